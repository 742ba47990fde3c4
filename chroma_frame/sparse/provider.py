"""The postings of a collection's blockfiles, per sparse key: cached, loaded, or built and stored.

A blockfile never changes, so its postings are built once (at compaction for the keys this
process has searched, otherwise on first use) and kept in ``blocks/<uuid>.sparse.<hash>.arrow``.
A missing or unusable file is rebuilt from the blockfile's rows. The log tail has no postings:
the engine scores it from its rows.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Optional, cast

from chroma_frame.sparse.files import load_postings, postings_path, save_postings
from chroma_frame.sparse.postings import CorruptPostings, Postings, build_postings
from chroma_frame.storage.fs import Storage

if TYPE_CHECKING:  # annotations only: the engine sits above this index
    from chroma_frame.engine.snapshot import Segment, Snapshot

log = logging.getLogger(__name__)


class SparseIndexes:
    """Postings of one collection's blockfiles (``prefix`` is the collection's folder)."""

    def __init__(self, storage: Storage, prefix: str) -> None:
        self.storage = storage
        self.prefix = prefix
        self._postings: dict[tuple[str, str], Postings] = {}
        self._keys: set[str] = set()
        self._lock = threading.Lock()

    def postings(self, seg: Segment, key: str) -> Optional[Postings]:
        """The segment's postings for ``key``; None for the log tail (it is scored from its rows)."""
        if seg.name is None:
            return None
        self._keys.add(key)
        cache_key = (seg.name, key)
        found = self._postings.get(cache_key)
        if found is not None and found.n_rows == seg.table.num_rows:
            return found
        with self._lock:  # one builder at a time; the others then find it cached
            found = self._postings.get(cache_key)
            if found is None or found.n_rows != seg.table.num_rows:
                found = self._postings[cache_key] = self._load_or_build(seg, key)
        return found

    def _load_or_build(self, seg: Segment, key: str) -> Postings:
        rows = seg.table.num_rows
        name = cast(str, seg.name)  # postings belong to blockfiles, which are named
        try:
            stored = load_postings(self.storage, self.prefix, name, key, n_rows=rows)
            if stored is not None:
                return stored
        except CorruptPostings as exc:
            log.warning("postings of %s/%s are unusable (%s): rebuilding them", self.prefix, name, exc)
        built = build_postings(seg.sparse_rows(key))
        if self.storage.exists(f"{self.prefix}/{name}"):  # not merged away meanwhile
            try:
                save_postings(self.storage, self.prefix, name, key, built)
            except OSError as exc:  # a read-only or full disk: serve from memory
                log.warning("could not store %s: %s", postings_path(name, key), exc)
        return built

    def after_compaction(self, snap: Snapshot, blockfiles: set[str]) -> None:
        """Drop the postings of merged-away blockfiles; index new ones for the keys in use."""
        with self._lock:
            self._postings = {k: p for k, p in self._postings.items() if k[0] in blockfiles}
        try:
            for key in sorted(self._keys):
                for seg in snap.base:
                    self.postings(seg, key)
        except Exception:  # the compaction itself is done; queries build what is missing
            log.exception("indexing the sparse vectors of %s after compaction failed", self.prefix)


__all__ = ["SparseIndexes"]
