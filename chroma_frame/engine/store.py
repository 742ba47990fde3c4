"""One collection's files and its cached snapshot: reads refresh, writes go through the log.

Reads take no lock: they read the manifest, then the log entries it does not cover, and retry if
a compaction moved the ground under them. Writes hold the collection's file lock, refresh,
compute after-images against the fresh snapshot, append one log entry (durable before return),
and compact past a threshold.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from contextlib import ExitStack, contextmanager
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pyarrow as pa

from chroma_frame.engine.backoff import Backoff
from chroma_frame.engine.live_rows import read_live, write_live
from chroma_frame.engine.snapshot import Snapshot, resolve_latest
from chroma_frame.errors import InternalError, NotFoundError
from chroma_frame.index.manager import IndexManager
from chroma_frame.sparse.provider import SparseIndexes
from chroma_frame.storage import lock
from chroma_frame.storage.blockfile import BLOCK_DIR, read_blockfile, write_blockfile
from chroma_frame.storage.consistency import check_manifest
from chroma_frame.storage.fs import Storage
from chroma_frame.storage.log import LOG_DIR, Log
from chroma_frame.storage.manifest import (
    BlockRef,
    Manifest,
    publish_version,
    read_manifest,
    retire_versions,
    version_marker,
    write_manifest,
)
from chroma_frame.storage.records import METADATA, PUT, upgrade_table
from chroma_frame.storage.typed import read_typed, typed_columns, write_typed

MAX_BLOCKFILES = 8  # blockfiles below the size limit; full ones are not counted
FULL_BLOCKFILE_ROWS = 1 << 20
FULL_BLOCKFILE_VECTOR_BYTES = 3 << 29  # 1.5 GiB of vectors: what one graph build holds in memory
MAX_LOG_FILES = 1000
_RETRIES = 50
TRASH_DIR = "trash"  # deleted collections' folders, moved here in one rename, then removed

logger = logging.getLogger(__name__)


class CollectionStore:
    def __init__(self, storage: Storage, collection_id: str, *, compaction_threshold_rows: int = 50_000) -> None:
        self.storage = storage
        self.collection_id = collection_id
        self.prefix = f"collections/{collection_id}"  # created with the collection (create_files), never here
        self.log = Log(storage, self.prefix)
        self.compaction_threshold_rows = compaction_threshold_rows
        self._lock_path = storage.path(f"{self.prefix}/write.lock")
        self._mutex = threading.RLock()
        self._snapshot: Snapshot | None = None
        self._blocks: dict[str, pa.Table] = {}
        self._typed: dict[str, Any] = {}  # blockfile -> its stored typed metadata columns (None: derive them)
        self.index = IndexManager(storage, collection_id)
        self.sparse_index = SparseIndexes(storage, self.prefix)
        self._compaction_retry = Backoff()  # automatic compaction after a failed one

    # -- reading -------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """The state including every write acknowledged before this call."""
        with self._mutex:
            for _ in range(_RETRIES):
                try:
                    self._snapshot = self._refresh(self._snapshot)
                    return self._snapshot
                except FileNotFoundError:
                    self._snapshot = None  # a compaction removed what we were reading: start over
            raise InternalError(f"could not read a stable snapshot of {self.storage.path(self.prefix)}: "
                                "files kept changing under the reader")

    def _refresh(self, current: Snapshot | None) -> Snapshot:
        if current is not None:
            fresh = self._extend(current)
            if fresh is not None:
                return fresh
        return self._reload(current)

    def _extend(self, current: Snapshot) -> Snapshot | None:
        """``current`` plus the log entries written since, or None when a compaction (or the
        collection's deletion) happened since ``current`` was read: then the manifest is re-read.

        The log first, then the marker of ``current``'s manifest version: a compaction deletes
        that marker before it deletes any log entry, so a marker still there after we looked at
        the log means what we saw of the log is all there is past ``current``. Costs two stats
        when nothing is new, the common case of a read.
        """
        seqs: list[int] = []
        if self.log.has(current.last_seq + 1):
            seqs = self.log.sequences(after=current.last_seq)
            if not _contiguous(seqs, current.last_seq):
                return None
        if not self.storage.exists(version_marker(self.prefix, current.manifest_version)):
            return None
        if not seqs:
            return current
        return current.extend(pa.concat_tables([self.log.read(s) for s in seqs]), seqs[-1])

    def _reload(self, current: Snapshot | None) -> Snapshot:
        manifest = read_manifest(self.storage, self.prefix)
        same = current if current is not None and current.manifest_version == manifest.version else None
        seqs = self.log.sequences(after=same.last_seq if same is not None else manifest.log_upto)
        if not self.storage.exists(version_marker(self.prefix, manifest.version)):
            # No marker (a deleted collection, or files of an older chroma-frame): the folder
            # must exist, and the manifest must not have changed while we listed the log.
            if not self.storage.exists(self.prefix):
                raise NotFoundError(f"Collection [{self.collection_id}] does not exist.")
            if read_manifest(self.storage, self.prefix).version != manifest.version:
                raise FileNotFoundError("a compaction ran under a reader")
        if same is not None:
            self._check_contiguous(seqs, same.last_seq)
            if not seqs:
                return same
            return same.extend(pa.concat_tables([self.log.read(s) for s in seqs]), seqs[-1])
        check_manifest(self.storage, self.prefix, manifest, seqs)  # refuse a manifest that hides or garbles data
        self._check_contiguous(seqs, manifest.log_upto)
        blocks = [(rel, self._read_block(rel)) for rel in manifest.blockfiles]
        rows = sum(table.num_rows for _, table in blocks)
        live = read_live(self.storage, self.prefix, manifest.version, manifest.blockfiles, rows) if rows else None
        snap = Snapshot.build(
            manifest_version=manifest.version,
            last_seq=manifest.log_upto,
            dimension=manifest.dimension,
            blockfiles=blocks,
            tail=[],
            typed={rel: self._typed.get(rel) for rel, _ in blocks},
            live=live,
        )
        if live is None and rows:
            write_live(self.storage, self.prefix, manifest.version, manifest.blockfiles, snap.live)
        if not seqs:
            return snap
        return snap.extend(pa.concat_tables([self.log.read(s) for s in seqs]), seqs[-1])

    @staticmethod
    def _check_contiguous(seqs: list[int], after: int) -> None:
        if not _contiguous(seqs, after):
            raise FileNotFoundError("log moved under a reader")

    def _read_block(self, rel: str) -> pa.Table:
        table = self._blocks.get(rel)
        if table is None:
            table = read_blockfile(self.storage, self.prefix, rel)
            self._typed[rel] = read_typed(self.storage, self.prefix, rel, table.num_rows)
            self._blocks[rel] = table
        return table

    # -- writing -------------------------------------------------------------------------
    def write(self, plan: Callable[[Snapshot, int], pa.Table | None], *, bulk: bool = False) -> Snapshot:
        """Run ``plan(snapshot, seq)`` under the write lock and log the rows it returns.

        ``bulk`` (an ingest): the log grows to a full blockfile before it is compacted, so each
        row is written twice (log, then a full blockfile that no merge rewrites) instead of once
        per tier of merges on the way there."""
        # The file lock serialises writers (threads included); the mutex is held only to swap the
        # cached snapshot, so reads never wait for a write's fsync.
        with self._write_lock():
            with self._mutex:
                snap = self._locked_snapshot()
            seq = snap.last_seq + 1
            rows = plan(snap, seq)
            if rows is None or rows.num_rows == 0:
                return snap
            self.log.append(seq, rows)
            if bulk:
                rows = self.log.mapped(seq)
            snap = snap.extend(rows, seq)
            with self._mutex:
                current = self._snapshot
                if current is None or current.manifest_version != snap.manifest_version or current.last_seq <= seq:
                    self._snapshot = snap
            return self._compact_after_commit(snap, bulk)

    def _compact_after_commit(self, snap: Snapshot, bulk: bool = False) -> Snapshot:
        """Compact past the threshold. The write is already committed, so a failure (a full disk)
        is logged, not raised, and compaction is tried again a few writes or seconds later."""
        try:
            if not (self._needs_compaction(snap, bulk) and self._compaction_retry.due()):
                return snap
            with self._mutex:
                return self._compact_locked(snap)
        except Exception as exc:  # noqa: BLE001 - whatever went wrong, the write itself is durable
            self._compaction_retry.failed()
            logger.warning("compaction of %s failed, will retry later (the write was committed): %s",
                           self.prefix, exc)
            return snap

    def _needs_compaction(self, snap: Snapshot, bulk: bool = False) -> bool:
        tail = snap.tail.table.num_rows if snap.tail is not None else 0
        files = snap.last_seq - read_manifest(self.storage, self.prefix).log_upto
        threshold = full_rows(snap.dimension) if bulk else self.compaction_threshold_rows
        return tail >= threshold or files >= MAX_LOG_FILES

    def compact(self, *, merge_open: bool = False) -> Snapshot:
        """Fold the log into blockfiles now. ``merge_open``: and every blockfile that is not full
        with it (after a bulk load: fewer, larger blockfiles, one graph each, are faster to query)."""
        with self._write_lock(), self._mutex:
            return self._compact_locked(self._locked_snapshot(), merge_open)

    @contextmanager
    def _write_lock(self) -> Iterator[None]:
        """Hold the collection's write lock; NotFoundError when the collection was deleted.

        Deleting a collection moves its folder away under this lock, and the lock is never
        taken on a file that was moved away, so a holder writes into a live collection.
        """
        try:
            with lock.exclusive(self._lock_path):
                yield
        except FileNotFoundError:
            if self.storage.exists(self.prefix):
                raise
            raise NotFoundError(f"Collection [{self.collection_id}] does not exist.") from None

    def _locked_snapshot(self) -> Snapshot:
        """The snapshot, under the write lock; restores the version marker of collections
        written by older versions (only a lock holder may create one: no compaction can race)."""
        snap = self.snapshot()
        marker = version_marker(self.prefix, snap.manifest_version)
        if not self.storage.exists(marker):
            publish_version(self.storage, self.prefix, snap.manifest_version)
        return snap

    def _compact_locked(self, snap: Snapshot, merge_open: bool = False) -> Snapshot:
        manifest = read_manifest(self.storage, self.prefix)
        keep = self._merge_from(snap, manifest, merge_open)
        tail = snap.tail.table.num_rows if snap.tail is not None else 0
        if not tail and (not merge_open or keep >= len(snap.base) - 1):  # nothing to fold or merge
            return snap
        segments = snap.segments[keep:]
        if keep == 0:  # everything rewritten: only live rows, no tombstones
            kept = snap.live
        else:  # the newest blockfiles and the tail; their tombstones still shadow older blockfiles
            ids = pa.concat_tables([seg.table.select(["id"]) for seg in segments]).column("id")
            kept = np.concatenate([np.zeros(segments[0].start, bool), resolve_latest(ids)])
        # Streamed, one slice at a time: a merge never holds a copy of what it merges. The rows go
        # into blockfiles of at most full_rows(): a graph is built per blockfile, in memory.
        schema = segments[-1].table.schema
        cap = full_rows(snap.dimension)
        written: list[BlockRef] = []
        try:
            for lo, hi in _runs(kept, segments[0].start, cap):
                metadata: list[pa.ChunkedArray] = []  # of the rows written: their typed columns go next to them
                ref = write_blockfile(self.storage, self.prefix, _slices(segments, kept, lo, hi, metadata), schema)
                written.append(ref)
                self._write_typed(ref, metadata)
        except BaseException:
            for ref in written:
                self._discard_block(ref)
            raise
        blockfiles = manifest.blockfiles[:keep] + tuple(written)
        new = Manifest(
            version=manifest.version + 1,
            log_upto=snap.last_seq,
            dimension=snap.dimension,
            blockfiles=blockfiles,
        )
        try:
            publish_version(self.storage, self.prefix, new.version)  # before readers can see it
            write_manifest(self.storage, self.prefix, new)
        except BaseException:
            for ref in written:
                self._discard_block(ref)  # the previous manifest and every log entry stay
            raise
        try:
            # Readers learn of the compaction from their version's marker disappearing, so the
            # markers go before any log entry (if this fails, the log entries stay).
            retire_versions(self.storage, self.prefix, keep=new.version)
            self.log.remove_through(snap.last_seq)
            self._remove_unlisted_blocks(set(blockfiles))
        except OSError as exc:  # the compaction is committed: the next one removes what is left
            logger.warning("compaction of %s could not remove folded files: %s", self.prefix, exc)
        self._blocks = {rel: t for rel, t in self._blocks.items() if rel in blockfiles}  # the new one: mapped on read
        self._typed = {rel: t for rel, t in self._typed.items() if rel in blockfiles}
        self.index.forget(set(blockfiles))
        self._snapshot = None
        snap = self.snapshot()
        self.sparse_index.after_compaction(snap, set(blockfiles))
        self._compaction_retry.succeeded()
        return snap

    def _write_typed(self, rel: str, metadata: list[pa.ChunkedArray]) -> None:
        """Store a new blockfile's typed metadata columns next to it; they are derived data (the
        long form is the reference), so a failure is logged and readers derive them instead."""
        try:
            chunks = [chunk for column in metadata for chunk in column.chunks]
            typed = typed_columns(pa.chunked_array(chunks, METADATA))
            if typed[0]:  # no typed key: no file (deriving finds none again, at the cost of one scan)
                write_typed(self.storage, self.prefix, rel, typed)
        except Exception as exc:  # noqa: BLE001 - the blockfile is what matters
            logger.warning("could not write the typed columns of %s/%s: %s", self.prefix, rel, exc)

    def _discard_block(self, rel: str) -> None:
        """Remove the blockfile of a failed compaction, unless the manifest on disk lists it after
        all (a manifest renamed into place whose folder sync failed and could not be taken back)."""
        try:
            if rel not in read_manifest(self.storage, self.prefix).blockfiles:
                self.storage.delete_file(f"{self.prefix}/{rel}")
        except Exception as exc:  # noqa: BLE001 - left for the next compaction's sweep of unlisted blocks
            logger.warning("could not remove %s/%s after a failed compaction: %s", self.prefix, rel, exc)

    @staticmethod
    def _merge_from(snap: Snapshot, manifest: Manifest, merge_open: bool = False) -> int:
        """How many leading blockfiles a compaction keeps; the rest are merged with the tail.

        Size-tiered, as LSM trees do: new blockfiles accumulate until there are too many, then the
        newest run that is no larger than the blockfile before it is merged, so each row is
        rewritten O(log n) times and a merge never copies the whole collection when it need not.
        Blockfiles stop growing at :func:`full_rows` (a merge that reaches it writes several), and
        full ones are never merged again, so a collection of 100M rows is ~100 blockfiles that no
        compaction touches. Many dead rows (deletes, updates) make it merge everything to drop them.
        """
        sizes = [seg.table.num_rows for seg in snap.base]
        if len(sizes) != len(manifest.blockfiles):
            return 0
        dead = snap.base_rows - int(snap.live[: snap.base_rows].sum())
        if dead > 0.25 * max(snap.base_rows, 1):
            return 0
        # Blockfiles up to the last full one stay as they are: a merge never rewrites a full one.
        cap = full_rows(snap.dimension)
        sealed = max((i + 1 for i, rows in enumerate(sizes) if rows >= cap), default=0)
        tail = snap.tail.table.num_rows if snap.tail is not None else 0
        keep = sealed if merge_open else len(sizes)
        if keep > sealed and len(sizes) - sealed + 1 > MAX_BLOCKFILES:
            keep = next((k for k in range(sealed + 1, len(sizes)) if sum(sizes[k:]) + tail <= sizes[k - 1]), sealed)
        if sum(sizes[keep:]) + tail >= cap:  # a full blockfile comes out: no open one may stay behind it
            keep = sealed
        return keep

    def _remove_unlisted_blocks(self, keep: set[str]) -> None:
        # A kept blockfile keeps its companions (graphs, postings): files named <uuid>.<anything>.
        kept = {rel.rsplit("/", 1)[-1].split(".", 1)[0] for rel in keep}
        for name in self.storage.list_names(f"{self.prefix}/{BLOCK_DIR}"):
            if name.split(".", 1)[0] not in kept:
                self.storage.delete_file(f"{self.prefix}/{BLOCK_DIR}/{name}")

    # -- creating and deleting ----------------------------------------------------------
    @staticmethod
    def create_files(storage: Storage, collection_id: str) -> None:
        """Make a new collection's folder; the only place it is made (nothing recreates it)."""
        prefix = f"collections/{collection_id}"
        storage.makedirs(f"{prefix}/{LOG_DIR}")
        publish_version(storage, prefix, 0)

    @contextmanager
    def deleting(self) -> Iterator[bool]:
        """Hold the write lock while the collection is removed from the catalog; yields False
        when its folder is already gone (nothing to lock or move)."""
        with ExitStack() as stack:
            try:
                stack.enter_context(self._write_lock())
            except NotFoundError:
                yield False
            else:
                yield True

    def move_to_trash(self) -> None:
        """Move the folder out of ``collections/`` in one rename (call inside :meth:`deleting`):
        writers waiting for the lock then find the collection gone; :func:`empty_trash` removes it."""
        with self._mutex:
            self._snapshot = None
            self._blocks = {}
            self._typed = {}
        self.storage.makedirs(TRASH_DIR)
        try:
            self.storage.fs.move(self.storage.path(self.prefix),
                                 self.storage.path(f"{TRASH_DIR}/{self.collection_id}.{uuid.uuid4().hex}"))
        except FileNotFoundError:
            pass
        except OSError as exc:  # the deletion is committed in the catalog: remove in place instead
            logger.warning("could not move %s to the trash (%s): deleting it in place", self.prefix, exc)
            try:
                self.storage.delete_dir(self.prefix)
            except OSError as again:
                logger.warning("could not delete %s (doctor --repair removes it): %s", self.prefix, again)


def empty_trash(storage: Storage, attempts: int = 5) -> None:
    """Delete the folders of deleted collections. A process still finishing a file in one (an index
    builder) can make a removal fail ("Directory not empty"): retried, else left for next time."""
    for name in storage.list_names(TRASH_DIR):
        rel = f"{TRASH_DIR}/{name}"
        for attempt in range(attempts):
            try:
                storage.fs.delete_dir(storage.path(rel))
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                if attempt == attempts - 1:
                    logger.warning("could not remove %s yet (left for the next deletion): %s", rel, exc)
                else:
                    time.sleep(0.01 * 2 ** attempt)


def full_rows(dimension: int | None) -> int:
    """Rows of a full blockfile: 1M, fewer for wide vectors (1.5 GiB of them at most)."""
    return max(1, min(FULL_BLOCKFILE_ROWS, FULL_BLOCKFILE_VECTOR_BYTES // (4 * max(dimension or 1, 1))))


def _runs(kept: np.ndarray, start: int, cap: int) -> list[tuple[int, int]]:
    """Position ranges from ``start`` on holding at most ``cap`` kept rows each. Nothing kept gives
    one range: a compaction of only deletes still writes a blockfile, an empty one."""
    rows = np.flatnonzero(kept[start:]) + start
    cuts = [start, *(int(rows[i]) for i in range(cap, len(rows), cap)), len(kept)]
    return list(zip(cuts[:-1], cuts[1:]))


def _slices(segments: Sequence[Any], kept: np.ndarray, lo: int, hi: int,
            metadata: list[pa.ChunkedArray]) -> Iterator[pa.Table]:
    """The kept rows of positions ``lo:hi`` of ``segments``, 64k positions at a time; their
    metadata is noted in ``metadata``."""
    for seg in segments:
        first, last = max(lo, seg.start), min(hi, seg.stop)
        for at in range(first, last, 65_536):
            stop = min(at + 65_536, last)
            part = seg.table.slice(at - seg.start, stop - at).filter(pa.array(kept[at:stop]))
            metadata.append(upgrade_table(part).column("metadata"))
            yield part


def _contiguous(seqs: list[int], after: int) -> bool:
    # Sequence numbers have no gaps; a gap means a compaction folded entries we have not seen.
    return not seqs or (seqs[0] == after + 1 and seqs[-1] - seqs[0] + 1 == len(seqs))


__all__ = ["CollectionStore", "PUT"]
