"""One collection's files and its cached snapshot: reads refresh, writes go through the log.

Reads take no lock: they read the manifest, then the log entries it does not cover, and retry if
a compaction moved the ground under them. Writes hold the collection's file lock, refresh,
compute after-images against the fresh snapshot, append one log entry (durable before return),
and compact past a threshold.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

import numpy as np
import pyarrow as pa

from chroma_frame.engine.snapshot import Snapshot, resolve_latest
from chroma_frame.index.manager import IndexManager
from chroma_frame.sparse.provider import SparseIndexes
from chroma_frame.storage import lock
from chroma_frame.storage.blockfile import BLOCK_DIR, read_blockfile, write_blockfile
from chroma_frame.storage.fs import Storage
from chroma_frame.storage.log import Log
from chroma_frame.storage.manifest import Manifest, read_manifest, write_manifest
from chroma_frame.storage.records import PUT

MAX_BLOCKFILES = 8
MAX_LOG_FILES = 1000
_RETRIES = 50
MANIFEST_RECHECK = 1.0  # seconds


class CollectionStore:
    def __init__(self, storage: Storage, collection_id: str, *, compaction_threshold_rows: int = 50_000) -> None:
        self.storage = storage
        self.prefix = f"collections/{collection_id}"
        storage.makedirs(self.prefix)
        self.log = Log(storage, self.prefix)
        self.compaction_threshold_rows = compaction_threshold_rows
        self._lock_path = storage.path(f"{self.prefix}/write.lock")
        self._mutex = threading.RLock()
        self._snapshot: Snapshot | None = None
        self._manifest_read_at = -1e9
        self._blocks: dict[str, pa.Table] = {}
        self.index = IndexManager(storage, collection_id)
        self.sparse_index = SparseIndexes(storage, self.prefix)

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
            raise RuntimeError(f"could not read a stable snapshot of {self.prefix}")

    def _refresh(self, current: Snapshot | None) -> Snapshot:
        # The manifest is re-read at most every MANIFEST_RECHECK seconds: between reads, the
        # contiguity of the log (below) detects any compaction that changed what we must read.
        now = time.monotonic()
        if current is not None and now - self._manifest_read_at < MANIFEST_RECHECK:
            if not self.log.has(current.last_seq + 1):  # nothing new: the common case of a read
                return current
            seqs = self.log.sequences(after=current.last_seq)
            if not seqs:
                return current
            if seqs[0] == current.last_seq + 1:
                self._check_contiguous(seqs, current.last_seq)
                return current.extend(pa.concat_tables([self.log.read(s) for s in seqs]), seqs[-1])
        manifest = read_manifest(self.storage, self.prefix)
        self._manifest_read_at = now
        if current is not None and current.manifest_version == manifest.version:
            seqs = self.log.sequences(after=current.last_seq)
            if not seqs:
                return current
            self._check_contiguous(seqs, current.last_seq)
            rows = pa.concat_tables([self.log.read(s) for s in seqs])
            return current.extend(rows, seqs[-1])
        seqs = self.log.sequences(after=manifest.log_upto)
        self._check_contiguous(seqs, manifest.log_upto)
        blocks = [(rel, self._read_block(rel)) for rel in manifest.blockfiles]
        tail = [self.log.read(s) for s in seqs]
        return Snapshot.build(
            manifest_version=manifest.version,
            last_seq=seqs[-1] if seqs else manifest.log_upto,
            dimension=manifest.dimension,
            blockfiles=blocks,
            tail=tail,
        )

    @staticmethod
    def _check_contiguous(seqs: list[int], after: int) -> None:
        # Sequence numbers have no gaps; a gap means a compaction folded entries we have not seen.
        if seqs and (seqs[0] != after + 1 or seqs[-1] - seqs[0] + 1 != len(seqs)):
            raise FileNotFoundError("log moved under a reader")

    def _read_block(self, rel: str) -> pa.Table:
        table = self._blocks.get(rel)
        if table is None:
            table = self._blocks[rel] = read_blockfile(self.storage, self.prefix, rel)
        return table

    # -- writing -------------------------------------------------------------------------
    def write(self, plan: Callable[[Snapshot, int], pa.Table | None]) -> Snapshot:
        """Run ``plan(snapshot, seq)`` under the write lock and log the rows it returns."""
        # The file lock serialises writers (threads included); the mutex is held only to swap the
        # cached snapshot, so reads never wait for a write's fsync.
        with lock.exclusive(self._lock_path):
            with self._mutex:
                self._manifest_read_at = -1e9  # a writer always starts from the current manifest
                snap = self.snapshot()
            seq = snap.last_seq + 1
            rows = plan(snap, seq)
            if rows is None or rows.num_rows == 0:
                return snap
            self.log.append(seq, rows)
            snap = snap.extend(rows, seq)
            with self._mutex:
                current = self._snapshot
                if current is None or current.manifest_version != snap.manifest_version or current.last_seq <= seq:
                    self._snapshot = snap
            if self._needs_compaction(snap):
                with self._mutex:
                    snap = self._compact_locked(snap)
            return snap

    def _needs_compaction(self, snap: Snapshot) -> bool:
        tail = snap.tail.table.num_rows if snap.tail is not None else 0
        files = snap.last_seq - read_manifest(self.storage, self.prefix).log_upto
        return tail >= self.compaction_threshold_rows or files >= MAX_LOG_FILES

    def compact(self) -> Snapshot:
        """Fold the log into blockfiles now."""
        with lock.exclusive(self._lock_path), self._mutex:
            self._manifest_read_at = -1e9
            return self._compact_locked(self.snapshot())

    def _compact_locked(self, snap: Snapshot) -> Snapshot:
        manifest = read_manifest(self.storage, self.prefix)
        if snap.tail is None or snap.tail.table.num_rows == 0:
            return snap
        keep = self._merge_from(snap, manifest)
        segments = snap.segments[keep:]
        if keep == 0:  # everything into one blockfile: only live rows, no tombstones
            kept = snap.live
        else:  # the newest blockfiles and the tail into one; tombstones still shadow older ones
            ids = pa.concat_tables([seg.table.select(["id"]) for seg in segments]).column("id")
            kept = np.concatenate([np.zeros(segments[0].start, bool), resolve_latest(ids)])
        # Streamed, one slice at a time: a merge never holds a copy of what it merges.
        parts = (seg.table.slice(start, 65_536).filter(pa.array(kept[seg.start + start : min(seg.start + start + 65_536, seg.stop)]))
                 for seg in segments for start in range(0, seg.table.num_rows, 65_536))
        schema = segments[-1].table.schema
        blockfiles = manifest.blockfiles[:keep] + (write_blockfile(self.storage, self.prefix, parts, schema),)
        new = Manifest(
            version=manifest.version + 1,
            log_upto=snap.last_seq,
            dimension=snap.dimension,
            blockfiles=blockfiles,
        )
        write_manifest(self.storage, self.prefix, new)
        self.log.remove_through(snap.last_seq)
        self._remove_unlisted_blocks(set(blockfiles))
        self._blocks = {rel: t for rel, t in self._blocks.items() if rel in blockfiles}  # the new one: mapped on read
        self.index.forget(set(blockfiles))
        self._snapshot = None
        snap = self.snapshot()
        self.sparse_index.after_compaction(snap, set(blockfiles))
        return snap

    @staticmethod
    def _merge_from(snap: Snapshot, manifest: Manifest) -> int:
        """How many leading blockfiles a compaction keeps; the rest are merged with the tail.

        Size-tiered, as LSM trees do: new blockfiles accumulate until there are too many, then the
        newest run that is no larger than the blockfile before it is merged, so each row is
        rewritten O(log n) times and a merge never copies the whole collection when it need not.
        Many dead rows (deletes, updates) make it merge everything to drop them.
        """
        sizes = [seg.table.num_rows for seg in snap.base]
        if len(sizes) != len(manifest.blockfiles):
            return 0
        dead = snap.base_rows - int(snap.live[: snap.base_rows].sum())
        if dead > 0.25 * max(snap.base_rows, 1):
            return 0
        if len(sizes) + 1 <= MAX_BLOCKFILES:
            return len(sizes)
        tail = snap.tail.table.num_rows if snap.tail is not None else 0
        for keep in range(1, len(sizes)):
            if sum(sizes[keep:]) + tail <= sizes[keep - 1]:
                return keep
        return 0

    def _remove_unlisted_blocks(self, keep: set[str]) -> None:
        # A kept blockfile keeps its companions (graphs, postings): files named <uuid>.<anything>.
        kept = {rel.rsplit("/", 1)[-1].split(".", 1)[0] for rel in keep}
        for name in self.storage.list_names(f"{self.prefix}/{BLOCK_DIR}"):
            if name.split(".", 1)[0] not in kept:
                self.storage.delete_file(f"{self.prefix}/{BLOCK_DIR}/{name}")

    def drop(self) -> None:
        """Delete every file of the collection."""
        with self._mutex:
            self._snapshot = None
            self._blocks = {}
            self.storage.delete_dir(self.prefix)


__all__ = ["CollectionStore", "PUT"]
