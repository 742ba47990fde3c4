"""One collection's files and its cached snapshot: reads refresh, writes go through the log.

Nothing here takes a lock, so the same code runs over a local disk and object storage, from
several processes and machines. Reads take the newest manifest, then the log entries it does
not cover. A write refreshes, computes its after-images against that state and creates log
entry ``last_seq + 1`` with a create-if-absent write: if another writer created it first, the
write re-plans on the newer state and tries the next number, so an acknowledged write is never
lost or applied to a state it did not see. A compaction creates the next numbered manifest the
same way; the loser of that race discards its blockfiles. Superseded manifests, folded log
entries and merged-away blockfiles stay as the collection's history until vacuum
(:mod:`chroma_frame.engine.history`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Callable, Iterator, Optional, Sequence, cast

import numpy as np
import pyarrow as pa

from chroma_frame.engine.backoff import Backoff
from chroma_frame.engine.live_rows import read_live, write_live
from chroma_frame.engine.snapshot import Segment, Snapshot, resolve_latest
from chroma_frame.errors import InternalError, NotFoundError
from chroma_frame.index.manager import IndexManager
from chroma_frame.sparse.provider import SparseIndexes
from chroma_frame.storage.blockfile import read_blockfile, write_blockfile
from chroma_frame.storage.consistency import check_manifest
from chroma_frame.storage.fs import Storage
from chroma_frame.storage.log import LOG_DIR, Commit, Log, log_name
from chroma_frame.storage.manifest import (
    MANIFEST,
    MANIFESTS_DIR,
    BlockRef,
    Manifest,
    create_manifest,
    manifests,
    newest_number,
    parse_manifest,
    read_manifest_number,
)
from chroma_frame.storage.records import METADATA, PUT, record_schema, upgrade_table
from chroma_frame.storage.typed import read_typed, typed_columns, typed_path, write_typed

MAX_BLOCKFILES = 8  # blockfiles below the size limit; full ones are not counted
FULL_BLOCKFILE_ROWS = 1 << 20
FULL_BLOCKFILE_VECTOR_BYTES = 3 << 29  # 1.5 GiB of vectors: what one graph build holds in memory
MAX_LOG_FILES = 1000
_RETRIES = 50
_COMMIT_ATTEMPTS = 200  # a write that loses this many races in a row gives up with an error
_AT_CACHE = 4  # snapshots of past versions kept per collection (they never change)
_AGAIN = object()  # what a commit's planner returns when it changed the state and must plan again
TRASH_DIR = "trash"  # deleted collections' folders, moved here in one rename, then removed

logger = logging.getLogger(__name__)


class CollectionStore:
    def __init__(self, storage: Storage, collection_id: str, *, compaction_threshold_rows: int = 50_000,
                 refresh_interval: float = 0.0) -> None:
        self.storage = storage
        self.collection_id = collection_id
        self.prefix = f"collections/{collection_id}"  # created with the collection (create_files), never here
        self.log = Log(storage, self.prefix)
        self.manifests = manifests(storage, self.prefix)
        self.compaction_threshold_rows = compaction_threshold_rows
        self.refresh_interval = refresh_interval  # seconds a read may reuse the last check of the files
        self._checked = 0.0
        self._mutex = threading.RLock()
        self._writing = threading.Lock()  # this process's writers queue here instead of racing each other
        self._snapshot: Snapshot | None = None
        self._anchor: Optional[int] = None  # number of the newest manifest when _snapshot was read (None: legacy)
        self._upto = 0  # log_upto of that manifest
        self._blocks: dict[str, pa.Table] = {}
        self._typed: dict[str, Any] = {}  # blockfile -> its stored typed metadata columns (None: derive them)
        self._manifest_cache: dict[int, Manifest] = {}  # numbered manifests never change
        self._past: OrderedDict[int, Snapshot] = OrderedDict()  # version -> its snapshot (as_of)
        self.index = IndexManager(storage, collection_id)
        self.sparse_index = SparseIndexes(storage, self.prefix)
        self._compaction_retry = Backoff()  # automatic compaction after a failed one
        self.after_compaction: Callable[["CollectionStore"], None] | None = None  # the history's sweep

    # -- reading -------------------------------------------------------------------------
    def snapshot(self, *, fresh: bool = False) -> Snapshot:
        """The state including every write acknowledged before this call (with
        ``refresh_interval`` > 0 and not ``fresh``: by other processes, before the last check, at
        most that many seconds ago; this process's own writes are always in)."""
        with self._mutex:
            if (not fresh and self._snapshot is not None and self.refresh_interval
                    and time.monotonic() - self._checked < self.refresh_interval):
                return self._snapshot
            for _ in range(_RETRIES):
                try:
                    self._snapshot = self._refresh(self._snapshot)
                    self._checked = time.monotonic()
                    return self._snapshot
                except FileNotFoundError:
                    self._snapshot = None  # a file went away under the reader (vacuum, deletion): start over
            raise InternalError(f"could not read a stable snapshot of {self.storage.path(self.prefix)}: "
                                "files kept changing under the reader")

    def _refresh(self, current: Snapshot | None) -> Snapshot:
        if current is not None:
            fresh = self._extend(current)
            if fresh is not None:
                return fresh
        return self._reload(current)

    def _extend(self, current: Snapshot) -> Snapshot | None:
        """``current`` plus the commits made since, or None when the newest manifest changed
        (a compaction, a vacuum, the collection's deletion): then it is read again.

        The log first, then the manifests: a compaction creates manifest ``n + 1`` before
        vacuum may delete a log entry it folded, and vacuum deletes manifests oldest first, so
        when ``n + 1`` is absent and ``n`` still there after the log was looked at, what we saw
        of the log is all there is past ``current``. Three stats when nothing is new.
        """
        seqs: list[int] = []
        if self.log.has(current.last_seq + 1):
            seqs = self.log.sequences(after=current.last_seq)
            if not _contiguous(seqs, current.last_seq):
                return None
        # both after the log (on object storage, sent together: one round trip)
        if self._anchor is None:
            newer, there = self.storage.has_files([self.manifests.name(self._legacy_number() + 1),
                                                   f"{self.prefix}/{MANIFEST}"])
        else:
            newer, there = self.storage.has_files([self.manifests.name(self._anchor + 1),
                                                   self.manifests.name(self._anchor)])
        if newer or not there:
            return None
        if not seqs:
            return current
        return self._apply(current, seqs)

    def _legacy_number(self) -> int:
        return self._snapshot.manifest_version if self._snapshot is not None else 0

    def _reload(self, current: Snapshot | None) -> Snapshot:
        number = newest_number(self.storage, self.prefix, self._anchor)
        manifest = self._manifest(number)
        if current is not None and number is not None and number == self._anchor:
            seqs = self.log.sequences(after=current.last_seq)  # the same manifest: only new commits
            self._check_contiguous(seqs, current.last_seq)
            return self._apply(current, seqs) if seqs else current
        seqs = self.log.sequences(after=manifest.log_upto)
        check_manifest(self.storage, self.prefix, manifest, seqs)  # refuse a manifest that hides or garbles data
        self._check_contiguous(seqs, manifest.log_upto)
        snap = self._from_manifest(manifest)
        self._anchor, self._upto = number, manifest.log_upto
        return self._apply(snap, seqs) if seqs else snap

    def _manifest(self, number: Optional[int]) -> Manifest:
        """Manifest ``number``, or without one the legacy ``manifest.json`` or an empty one;
        NotFoundError when the collection has no files at all (deleted)."""
        if number is not None:
            found = self._manifest_cache.get(number)
            if found is None:
                found = self._manifest_cache[number] = read_manifest_number(self.storage, self.prefix, number)
            return found
        rel = f"{self.prefix}/{MANIFEST}"
        try:
            return parse_manifest(self.storage.read_bytes(rel), self.storage.path(rel))
        except FileNotFoundError:
            if not self.storage.exists(f"{self.prefix}/{LOG_DIR}"):
                raise NotFoundError(f"Collection [{self.collection_id}] does not exist.") from None
            return Manifest(format=2)  # a collection of an older chroma-frame that was never compacted

    def _from_manifest(self, manifest: Manifest) -> Snapshot:
        """The snapshot of a manifest's blockfiles alone."""
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
        return snap

    def _apply(self, snap: Snapshot, seqs: list[int]) -> Snapshot:
        """``snap`` plus log entries ``seqs``; a ``restore`` entry brings back the state of the
        version it names."""
        pending: list[pa.Table] = []
        for seq in seqs:
            table = self.log.read(seq)
            commit = Commit.from_schema(table.schema)
            if commit.operation == "restore" and commit.restore_to is not None:
                if pending:
                    snap = snap.extend(pa.concat_tables(pending, promote_options="default"), seq - 1)
                    pending = []
                snap = replace(self._at(commit.restore_to), last_seq=seq, _cache={})
            elif commit.attach:
                if pending:
                    snap = snap.extend(pa.concat_tables(pending, promote_options="default"), seq - 1)
                    pending = []
                snap = self._attached(snap, commit.attach, seq)
                pending.append(table)
            else:
                pending.append(table)
        if pending:
            snap = snap.extend(pa.concat_tables(pending, promote_options="default"), seqs[-1])
        return snap

    def _attached(self, snap: Snapshot, blocks: Sequence[BlockRef], seq: int) -> Snapshot:
        """``snap`` with ``blocks`` after its blockfiles (an attach entry's; its own rows follow).

        Their rows are new ids, or ids the entry's rows write again (a bulk job's commit makes
        sure of it), so the live mask only grows by them. An attach is committed only on a
        state a manifest describes whole, so there is no log tail to put them after."""
        if snap.tail is not None and snap.tail.table.num_rows:
            raise InternalError(f"log entry {seq} of {self.storage.path(self.prefix)} attaches blockfiles "
                                "to a state with uncompacted rows, which its writer never does")
        tables = [(cast(str, seg.name), seg.table) for seg in snap.base] + [(ref, self._read_block(ref))
                                                                              for ref in blocks]
        added = sum(table.num_rows for _, table in tables) - snap.base_rows
        return Snapshot.build(manifest_version=snap.manifest_version, last_seq=seq, dimension=snap.dimension,
                              blockfiles=tables, tail=[], typed={rel: self._typed.get(rel) for rel, _ in tables},
                              live=np.concatenate([snap.live, np.ones(added, bool)]))

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

    # -- the past ----------------------------------------------------------------------------
    def snapshot_at(self, version: int) -> Snapshot:
        """The state right after commit ``version`` (0: before the first). ValueError when the
        collection never had that version or vacuum removed it."""
        current = self.snapshot()
        if not isinstance(version, int) or isinstance(version, bool) or version < 0 or version > current.last_seq:
            raise ValueError(f"Collection [{self.collection_id}] has no version {version!r}: "
                             f"its versions go up to {current.last_seq}")
        if version == current.last_seq:
            return current
        return self._at(version)

    def _at(self, version: int) -> Snapshot:
        with self._mutex:
            found = self._past.get(version)
            if found is not None:
                self._past.move_to_end(version)
                return found
        base = self._base_for(version)
        if base is None or any(not self.log.has(seq) for seq in range(base.log_upto + 1, version + 1)):
            raise ValueError(f"version {version} of collection [{self.collection_id}] is no longer kept "
                             "(vacuum removed it); collection.versions() lists the versions kept")
        snap = self._from_manifest(base)
        if version > base.log_upto:
            snap = self._apply(snap, list(range(base.log_upto + 1, version + 1)))
        with self._mutex:
            self._past[version] = snap
            while len(self._past) > _AT_CACHE:
                self._past.popitem(last=False)
        return snap

    def _base_for(self, version: int, numbers: Optional[list[int]] = None) -> Optional[Manifest]:
        """The kept manifest that folds the most of the log without going past ``version``
        (``numbers``: the manifests kept, when the caller listed them already)."""
        best: Optional[Manifest] = None
        numbers = self.manifests.numbers() if numbers is None else numbers
        for number in reversed(numbers):
            try:
                manifest = self._manifest(number)
            except FileNotFoundError:
                continue
            if manifest.log_upto <= version:
                best = manifest
                break
        if best is None and not numbers:
            legacy = self._manifest(None)
            best = legacy if legacy.log_upto <= version else None
        return best

    # -- writing -------------------------------------------------------------------------
    def write(self, plan: Callable[[Snapshot, int], pa.Table | None], *, bulk: bool = False,
              operation: str = "write") -> Snapshot:
        """Commit the rows ``plan(snapshot, seq)`` returns as log entry ``seq``.

        Optimistic: when another writer (any process, any machine) commits ``seq`` first, the
        plan runs again on the newer state. ``bulk`` (an ingest): the log grows to a full
        blockfile before it is compacted, so each row is written twice (log, then a full
        blockfile that no merge rewrites) instead of once per tier of merges on the way there."""
        extended: list[Snapshot] = []  # the state after the entry of the last attempt

        def entry(snap: Snapshot, seq: int) -> Optional[tuple[pa.Table, Commit]]:
            rows = plan(snap, seq)
            if rows is None or rows.num_rows == 0:
                return None
            extended[:] = [snap.extend(rows, seq)]
            return rows, Commit(operation, extended[0].count)

        with self._writing:
            snap, seq, written = self._commit(entry)
            if not written:
                return snap
            new = extended[0]
            if bulk:  # the tail held for readers: mapped from the entry just written, not on the heap
                tail = self.log.mapped(seq)
                if snap.tail is not None:
                    tail = pa.concat_tables([snap.tail.table, upgrade_table(tail)])
                new = replace(new, tail=Segment(upgrade_table(tail), new.base_rows, new.dimension or 0), _cache={})
            with self._mutex:
                current = self._snapshot
                if current is None or current.last_seq < seq:
                    self._snapshot = new
            return self._compact_after_commit(new, bulk)

    def restore(self, version: int) -> Snapshot:
        """Make the state of ``version`` current again, as a new commit (nothing is rewritten)."""
        past = self.snapshot_at(version)

        def entry(snap: Snapshot, seq: int) -> Optional[tuple[pa.Table, Commit]]:
            empty = self._empty_entry(snap, past)
            if empty is None:  # nothing was ever written: every version is the same
                return None
            return empty, Commit("restore", past.count, restore_to=version)

        with self._writing:
            self._commit(entry)
        return self.snapshot()

    def _commit(self, entry: Callable[[Snapshot, int], Optional[tuple[pa.Table, Commit]]]
                ) -> tuple[Snapshot, int, bool]:
        """Create log entry ``seq`` (the newest state's ``last_seq + 1``) from what
        ``entry(snapshot, seq)`` returns (None: nothing to write). When another writer created
        ``seq`` first, ``entry`` runs again on the newer state. Returns the state it planned on,
        ``seq`` and whether the entry was written."""
        for attempt in range(_COMMIT_ATTEMPTS):
            snap = self.snapshot(fresh=True)
            seq = snap.last_seq + 1
            made = entry(snap, seq)
            if made is None:
                return snap, seq, False
            if made is _AGAIN:  # the planner changed the state (folded the log): plan on the new one
                continue
            if self.log.append(seq, *made):
                return snap, seq, True
            time.sleep(random.uniform(0, min(0.05, 0.001 * 2 ** attempt)))  # another writer won seq
        raise InternalError(f"could not commit to collection [{self.collection_id}]: other writers "
                            f"committed first {_COMMIT_ATTEMPTS} times in a row")

    def attach(self, blocks: Sequence[BlockRef], fix: Callable[[Snapshot, int], tuple[Optional[pa.Table], int]], *,
               operation: str) -> int:
        """Commit blockfiles written elsewhere (a bulk job's workers) as one version; returns it.

        ``fix(before, seq)`` gives the entry's own rows, after-images that follow the blockfiles
        for the ids they hold that were already live (an add keeps the old record, an upsert
        merges it), or None, and the record count after the commit. The entry is planned on a
        state a manifest describes whole (the log is folded first when it is not). Then it is
        folded into the next manifest, which keeps the blockfiles as they are (their graphs stay
        theirs); without rows of its own that manifest is made without reading a blockfile, so a
        job's commit costs the same on a laptop and on object storage whatever the job's size."""
        dimension = blocks[0].dimension if blocks else None
        planned: list[Any] = []  # the entry's own rows and record count, of the attempt that was written

        def entry(snap: Snapshot, seq: int) -> Any:
            if (snap.tail is not None and snap.tail.table.num_rows) or snap.last_seq != self._upto:
                with self._mutex:
                    self._compact(snap, keep_all=True)
                return _AGAIN
            rows, records = fix(snap, seq)
            planned[:] = [rows, records]
            body = rows if rows is not None else record_schema(int(dimension or 0)).empty_table()
            return body, Commit(operation, records, attach=tuple(blocks))

        with self._writing:
            snap, seq, _ = self._commit(entry)
            with self._mutex:
                if planned[0] is not None:
                    self._compact(self.snapshot(fresh=True), keep_all=True)
                else:
                    self._fold_attach(snap, blocks, seq, planned[1])
            return seq

    def _fold_attach(self, before: Snapshot, blocks: Sequence[BlockRef], seq: int, records: int) -> None:
        """The manifest of ``before`` plus ``blocks`` (an attach entry without rows of its own,
        ``seq``), and its live mask: built from what is known, no blockfile read. A failure
        leaves the entry to the next compaction."""
        number = (self._anchor if self._anchor is not None else before.manifest_version) + 1
        names = tuple(cast(str, seg.name) for seg in before.base) + tuple(blocks)
        manifest = Manifest(version=number, log_upto=seq, dimension=before.dimension or blocks[0].dimension,
                            records=records, blockfiles=names, operation="attach")
        try:
            if create_manifest(self.storage, self.prefix, manifest):
                added = np.ones(sum(int(ref.rows or 0) for ref in blocks), bool)
                write_live(self.storage, self.prefix, number, names, np.concatenate([before.live, added]))
        except Exception as exc:  # noqa: BLE001 - the commit stands; readers apply the entry from the log
            logger.warning("could not fold the attach entry %d of %s into a manifest: %s", seq, self.prefix, exc)
        self._snapshot = None

    def _empty_entry(self, snap: Snapshot, past: Snapshot) -> Optional[pa.Table]:
        """No rows, with the collection's record schema (a restore entry's body): taken from a
        state that has rows, else from the newest log entry (a state emptied by deletes)."""
        for state in (past, snap):
            if state.table is not None:
                return state.table.slice(0, 0)
        for seq in range(snap.last_seq, 0, -1):
            try:
                with self.storage.open_input(f"{self.log.dir}/{log_name(seq)}") as f:
                    return pa.ipc.open_stream(f).schema.empty_table()
            except FileNotFoundError:
                continue  # vacuumed
        return None

    def _compact_after_commit(self, snap: Snapshot, bulk: bool = False) -> Snapshot:
        """Compact past the threshold. The write is already committed, so a failure (a full disk)
        is logged, not raised, and compaction is tried again a few writes or seconds later."""
        try:
            if not (self._needs_compaction(snap, bulk) and self._compaction_retry.due()):
                return snap
            with self._mutex:
                return self._compact(snap)
        except Exception as exc:  # noqa: BLE001 - whatever went wrong, the write itself is durable
            self._compaction_retry.failed()
            logger.warning("compaction of %s failed, will retry later (the write was committed): %s",
                           self.prefix, exc)
            return snap

    def _needs_compaction(self, snap: Snapshot, bulk: bool = False) -> bool:
        tail = snap.tail.table.num_rows if snap.tail is not None else 0
        files = snap.last_seq - self._upto
        threshold = full_rows(snap.dimension) if bulk else self.compaction_threshold_rows
        return tail >= threshold or files >= MAX_LOG_FILES

    def compact(self, *, merge_open: bool = False) -> Snapshot:
        """Fold the log into blockfiles now. ``merge_open``: and every blockfile that is not full
        with it (after a bulk load: fewer, larger blockfiles, one graph each, are faster to query)."""
        with self._writing, self._mutex:
            return self._compact(self.snapshot(fresh=True), merge_open)

    def _compact(self, snap: Snapshot, merge_open: bool = False, keep_all: bool = False) -> Snapshot:
        keep = len(snap.base) if keep_all else self._merge_from(snap, merge_open)
        tail = snap.tail.table.num_rows if snap.tail is not None else 0
        if not tail and (not merge_open or keep >= len(snap.base) - 1) and snap.last_seq == self._upto:
            return snap  # nothing to fold or merge
        segments = snap.segments[keep:]
        if not segments:
            kept = snap.live  # nothing to write: a restore's blockfiles become the manifest's
        elif keep == 0:  # everything rewritten: only live rows, no tombstones
            kept = snap.live
        else:  # the newest blockfiles and the tail; their tombstones still shadow older blockfiles
            ids = pa.concat_tables([seg.table.select(["id"]) for seg in segments]).column("id")
            kept = np.concatenate([np.zeros(segments[0].start, bool), resolve_latest(ids)])
        # Streamed, one slice at a time: a merge never holds a copy of what it merges. The rows go
        # into blockfiles of at most full_rows(): a graph is built per blockfile, in memory.
        written: list[BlockRef] = []
        if not segments and not snap.base:  # a restore of an empty state: an empty blockfile says so
            empty = self._empty_entry(snap, snap)
            if empty is None:
                return snap
            written.append(write_blockfile(self.storage, self.prefix, [empty], empty.schema))
        if segments:
            schema = segments[-1].table.schema
            cap = full_rows(snap.dimension)
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
        blockfiles: tuple[str, ...] = tuple(cast(str, seg.name) for seg in snap.base[:keep]) + tuple(written)
        number = (self._anchor if self._anchor is not None else snap.manifest_version) + 1
        new = Manifest(version=number, log_upto=snap.last_seq, dimension=snap.dimension, records=snap.count,
                       blockfiles=blockfiles, operation="compact")
        try:
            won = create_manifest(self.storage, self.prefix, new)
        except BaseException:
            if not self._listed(number):  # else it may be ours after all: its blockfiles must stay
                for ref in written:
                    self._discard_block(ref)
            raise
        if not won:  # another process compacted first: its manifest stands, ours is dropped
            for ref in written:
                self._discard_block(ref)
            return self.snapshot()
        self._blocks = {rel: t for rel, t in self._blocks.items() if rel in blockfiles}  # the new one: mapped on read
        self._typed = {rel: t for rel, t in self._typed.items() if rel in blockfiles}
        self.index.forget(set(blockfiles))
        self._snapshot = None
        snap = self.snapshot()
        self.sparse_index.after_compaction(snap, set(blockfiles))
        self._compaction_retry.succeeded()
        if self.after_compaction is not None:
            try:
                self.after_compaction(self)
            except Exception as exc:  # noqa: BLE001 - history is swept again after the next compaction
                logger.warning("could not sweep the history of %s: %s", self.prefix, exc)
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

    def _listed(self, number: int) -> bool:
        try:
            return self.manifests.has(number)
        except OSError:
            return True  # cannot tell: keep the blockfiles (vacuum removes them if unlisted)

    def _discard_block(self, rel: str) -> None:
        """Remove the blockfile (and companions) of a compaction that did not commit."""
        try:
            self.storage.delete_file(f"{self.prefix}/{rel}")
            self.storage.delete_file(f"{self.prefix}/{typed_path(rel)}")
        except Exception as exc:  # noqa: BLE001 - vacuum removes files no version lists
            logger.warning("could not remove %s/%s after a failed compaction: %s", self.prefix, rel, exc)

    @staticmethod
    def _merge_from(snap: Snapshot, merge_open: bool = False) -> int:
        """How many leading blockfiles a compaction keeps; the rest are merged with the tail.

        Size-tiered, as LSM trees do: new blockfiles accumulate until there are too many, then the
        newest run that is no larger than the blockfile before it is merged, so each row is
        rewritten O(log n) times and a merge never copies the whole collection when it need not.
        Blockfiles stop growing at :func:`full_rows` (a merge that reaches it writes several), and
        full ones are never merged again, so a collection of 100M rows is ~100 blockfiles that no
        compaction touches. Many dead rows (deletes, updates) make it merge everything to drop them.
        """
        sizes = [seg.table.num_rows for seg in snap.base]
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

    # -- creating and deleting ----------------------------------------------------------
    @staticmethod
    def create_files(storage: Storage, collection_id: str, first: Optional[Manifest] = None) -> None:
        """Make a new collection's files (its first manifest: ``first``, else an empty one); the
        only place they are made (nothing recreates them)."""
        prefix = f"collections/{collection_id}"
        storage.makedirs(f"{prefix}/{LOG_DIR}")
        storage.makedirs(f"{prefix}/{MANIFESTS_DIR}")
        create_manifest(storage, prefix, first or Manifest(version=0, operation="create", records=0))

    @contextmanager
    def deleting(self) -> Iterator[bool]:
        """Around the catalog's removal of the collection; yields False when its files are
        already gone (nothing to remove)."""
        yield self.storage.exists(self.prefix)

    def move_to_trash(self) -> None:
        """Remove the collection's files (call inside :meth:`deleting`, after the catalog let go of
        it). On a local disk the folder leaves ``collections/`` in one rename, so a writer finds
        the collection gone at once; :func:`empty_trash` removes it. Blockfiles that forks still
        list stay, for vacuum to remove once no fork needs them."""
        with self._mutex:
            self._snapshot = None
            self._blocks = {}
            self._typed = {}
        try:
            if forks_of(self.storage, self.collection_id, SHARERS_DIR):
                for folder in (MANIFESTS_DIR, LOG_DIR):
                    self.storage.delete_dir(f"{self.prefix}/{folder}")
                self.storage.delete_file(f"{self.prefix}/{MANIFEST}")
                return
            if not self.storage.is_local:
                self.storage.delete_dir(self.prefix)
                return
            self.storage.makedirs(TRASH_DIR)
            self.storage.fs.move(self.storage.path(self.prefix),
                                 self.storage.path(f"{TRASH_DIR}/{self.collection_id}.{uuid.uuid4().hex}"))
        except FileNotFoundError:
            pass
        except OSError as exc:  # the deletion is committed in the catalog: remove in place instead
            logger.warning("could not move %s to the trash (%s): deleting it in place", self.prefix, exc)
            try:
                self.storage.delete_dir(self.prefix)
            except OSError as again:
                logger.warning("could not delete %s (vacuum or doctor --repair removes it): %s", self.prefix, again)


FORKS_DIR = "forks"  # collections/<id>/forks/<fork id>: an empty file per collection forked from this one
SHARERS_DIR = "sharers"  # collections/<id>/sharers/<id>: an empty file per collection listing its blockfiles


def forks_of(storage: Storage, collection_id: str, folder: str = FORKS_DIR) -> list[str]:
    """Ids of the collections forked from this one (``folder=SHARERS_DIR``: that list some of
    its blockfiles) whose files still exist."""
    found = storage.list_names(f"collections/{collection_id}/{folder}")
    return [fid for fid in found if storage.exists(f"collections/{fid}/{MANIFESTS_DIR}")]


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
