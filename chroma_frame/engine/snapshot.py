"""A consistent, resolved view of one collection: blockfiles plus the log tail, in memory.

The snapshot keeps every row version it read (Arrow, zero copy) and a ``live`` mask that marks the
latest version of each id unless that version is a tombstone. Vector search runs per segment (one
per blockfile, one for the log tail) so that the blockfiles' matrices are built once per manifest.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chroma_frame.sparse.rows import SparseRows
from chroma_frame.storage.records import (
    DELETE,
    METADATA_ENTRY,
    PUT,
    SCALAR_ENTRY_FIELDS,
    as_metadata,
    long_metadata,
    scalar_metadata,
    upgrade_table,
)


def _batch_matrix(batch: pa.RecordBatch, dimension: int) -> np.ndarray:
    """The ``embedding`` column of one record batch as a (rows, dimension) float32 view (zero copy)."""
    array = batch.column("embedding")
    values = array.values  # slots of null (tombstone) rows are present, zero or garbage
    flat = values.slice(array.offset * dimension, len(array) * dimension)
    return np.asarray(flat.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(-1, dimension)


def resolve_latest(ids: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Mask of the rows that are the last occurrence of their id (rows are in write order)."""
    n = len(ids)
    if n == 0:
        return np.zeros(0, dtype=bool)
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    codes = np.asarray(pc.dictionary_encode(ids).indices)
    _, first_in_reverse = np.unique(codes[::-1], return_index=True)
    mask = np.zeros(n, dtype=bool)
    mask[n - 1 - first_in_reverse] = True
    return mask


def _ops(table: pa.Table) -> np.ndarray:
    return np.asarray(table.column("op").to_numpy())


def _gather(batches: Sequence[pa.RecordBatch], which: np.ndarray, local: np.ndarray,
            names: list[str], schema: pa.Schema) -> pa.Table:
    """Rows ``local[i]`` of ``batches[which[i]]``, in that order, reading only those rows.

    A few rows are zero-copy slices; many are one ``take`` per record batch over its own rows,
    then one small ``take`` restores the order. Either way the cost follows the rows asked for,
    never the size of the batches they sit in.
    """
    n = len(which)
    if n <= _SLICED_ROWS:
        parts = [batches[b].slice(r, 1) for b, r in zip(which.tolist(), local.tolist())]
        return pa.Table.from_batches(parts, schema).combine_chunks()
    order = np.argsort(which, kind="stable")
    sorted_which = which[order]
    cuts = np.flatnonzero(np.diff(sorted_which)) + 1
    parts = [batches[int(sorted_which[a])].take(pa.array(local[order[a:b]], pa.int64()))
             for a, b in zip(np.concatenate([[0], cuts]).tolist(), np.concatenate([cuts, [n]]).tolist())]
    result = pa.Table.from_batches(parts, schema)  # one chunk per batch, as takes per segment gave
    if bool(np.all(order[1:] > order[:-1])):
        return result
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    return result.take(pa.array(inverse, pa.int64()))


_SLICED_ROWS = 64  # up to this many rows, one slice each (a take per batch costs more)


@dataclass(frozen=True)
class Segment:
    """Rows ``start:stop`` of the snapshot table, with their embedding matrix built on demand."""

    table: pa.Table
    start: int
    dimension: int
    name: str | None = None  # the blockfile's path; None for the log tail
    _sparse: dict = field(default_factory=dict, compare=False, repr=False)
    typed: Any = field(default=None, compare=False, repr=False)  # its typed metadata columns when stored

    @property
    def stop(self) -> int:
        return self.start + self.table.num_rows

    @cached_property
    def matrix(self) -> np.ndarray:
        """(rows, dimension) float32: a view of the mapped file when the segment is one record
        batch, else one copy (into numpy's memory, which the kernel backs with huge pages: far
        fewer page faults than Arrow's allocator)."""
        if self.table.num_rows == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        chunks = [_batch_matrix(b, self.dimension) for b in self.batches[0]]
        if len(chunks) == 1:
            return chunks[0]
        return np.concatenate(chunks)

    @cached_property
    def batches(self) -> tuple[tuple[pa.RecordBatch, ...], np.ndarray]:
        """The table's record batches (zero copy) and the segment row each starts at."""
        batches = tuple(b for b in self.table.to_batches() if b.num_rows)
        starts = np.zeros(len(batches), dtype=np.int64)
        if batches:
            np.cumsum([b.num_rows for b in batches[:-1]], out=starts[1:])
        return batches, starts

    @cached_property
    def sq_norms(self) -> np.ndarray:
        m = self.matrix
        return np.einsum("ij,ij->i", m, m)

    def sparse_rows(self, key: str) -> SparseRows:
        """The sparse vectors stored under metadata ``key``, one CSR row per segment row (cached)."""
        rows = self._sparse.get(key)
        if rows is None:
            rows = self._sparse[key] = sparse_rows_of(self.table.column("metadata"), key)
        return rows


@dataclass(frozen=True)
class Snapshot:
    """Every row version read, in write order, with the mask of live ones."""

    manifest_version: int
    last_seq: int
    dimension: int | None
    base: tuple[Segment, ...]
    tail: Segment | None
    live: np.ndarray
    next_rowid: int
    base_rows: int = 0
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(
        cls,
        *,
        manifest_version: int,
        last_seq: int,
        dimension: int | None,
        blockfiles: Sequence[tuple[str, pa.Table]],
        tail: Sequence[pa.Table],
        typed: Mapping[str, Any] | None = None,
        live: np.ndarray | None = None,
    ) -> "Snapshot":
        """``typed``: blockfile path -> its stored typed metadata columns (``storage.typed``);
        ``live``: the live mask of these rows when known (``engine.live_rows``), else computed."""
        # The tables come checked by their readers (checksum, then Arrow validation): ``take`` trusts
        # offsets, and a string offset out of range made it read past the mapping (SIGSEGV).
        blockfiles = [(name, upgrade_table(t)) for name, t in blockfiles]
        tail = [upgrade_table(t) for t in tail]
        tables = [t for _, t in blockfiles] + list(tail)
        if dimension is None and tables:
            dimension = tables[0].schema.field("embedding").type.list_size
        base: list[Segment] = []
        start = 0
        for name, t in blockfiles:
            base.append(Segment(t, start, dimension or 0, name, typed=(typed or {}).get(name)))
            start += t.num_rows
        tail_table = pa.concat_tables(tail) if tail else None
        tail_seg = Segment(tail_table, start, dimension or 0) if tail_table is not None else None
        table = pa.concat_tables(tables) if tables else None
        if table is None:
            return cls(manifest_version, last_seq, dimension, (), None, np.zeros(0, bool), 0, 0)
        if live is None or len(live) != table.num_rows:
            live = resolve_latest(table.column("id")) & (_ops(table) == PUT)
        next_rowid = int(pc.max(table.column("rowid")).as_py()) + 1 if table.num_rows else 0
        return cls(manifest_version, last_seq, dimension, tuple(base), tail_seg, live, next_rowid, start)

    def extend(self, rows: pa.Table, last_seq: int) -> "Snapshot":
        """This snapshot plus newer log rows (after-images and tombstones)."""
        rows = upgrade_table(rows)
        if rows.num_rows == 0:
            return Snapshot(self.manifest_version, last_seq, self.dimension, self.base, self.tail,
                            self.live, self.next_rowid, self.base_rows)
        dimension = self.dimension or rows.schema.field("embedding").type.list_size
        old = self.table
        live = self.live.copy()
        if old is not None and old.num_rows:
            replaced = pc.is_in(old.column("id"), value_set=rows.column("id").combine_chunks())
            live &= ~np.asarray(replaced.to_numpy(zero_copy_only=False), dtype=bool)
        new_live = resolve_latest(rows.column("id")) & (_ops(rows) == PUT)
        tail_table = pa.concat_tables([self.tail.table, rows]) if self.tail is not None else rows
        if tail_table.num_columns and tail_table.column(0).num_chunks > 32:
            tail_table = tail_table.combine_chunks()  # amortised: keeps takes on the tail fast
        tail = Segment(tail_table, self.base_rows, dimension)
        base = self.base if self.dimension else tuple(
            Segment(s.table, s.start, dimension, s.name, typed=s.typed) for s in self.base)
        next_rowid = max(self.next_rowid, int(pc.max(rows.column("rowid")).as_py()) + 1)
        return Snapshot(self.manifest_version, last_seq, dimension, base, tail,
                        np.concatenate([live, new_live]), next_rowid, self.base_rows)

    # -- views ---------------------------------------------------------------------------
    @property
    def segments(self) -> tuple[Segment, ...]:
        return self.base + ((self.tail,) if self.tail is not None else ())

    @cached_property
    def table(self) -> pa.Table | None:
        tables = [s.table for s in self.segments]
        return pa.concat_tables(tables) if tables else None

    @property
    def count(self) -> int:
        return int(self.live.sum())

    @cached_property
    def live_positions(self) -> np.ndarray:
        """Positions of live rows, in Chroma's order (by rowid, i.e. first insertion)."""
        positions = np.flatnonzero(self.live)
        if len(positions) == 0:
            return positions
        rowids = self.column_numpy("rowid")[positions]
        return positions[np.argsort(rowids, kind="stable")]

    def column_numpy(self, name: str) -> np.ndarray:
        key = ("np", name)
        if key not in self._cache:
            table = self.table
            assert table is not None, "an empty snapshot has no columns"
            self._cache[key] = np.asarray(table.column(name).to_numpy())
        return self._cache[key]

    def positions_of(self, ids: Sequence[str]) -> np.ndarray:
        """Positions of the live rows whose id is in ``ids`` (in table order)."""
        if self.table is None or not len(ids):
            return np.zeros(0, dtype=np.int64)
        hit = pc.is_in(self.table.column("id"), value_set=pa.array(ids, pa.string()))
        hit = np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool)
        return np.flatnonzero(hit & self.live)

    def rows(self, positions: np.ndarray, columns: Sequence[str] | None = None) -> pa.Table:
        """The ``columns`` (default: all) of the rows at ``positions``, in that order.

        Only those rows are read: a run of consecutive positions inside one segment is a slice
        (zero copy); otherwise the rows are gathered from the record batches that hold them.
        """
        positions = np.asarray(positions, dtype=np.int64)
        segments = self.segments
        names = list(columns) if columns is not None else segments[0].table.column_names
        n = len(positions)
        if n == 0:
            return segments[0].table.select(names).slice(0, 0)
        first, last = int(positions[0]), int(positions[-1])
        starts = [seg.start for seg in segments]
        i = bisect_right(starts, first) - 1
        if last - first == n - 1 and last < segments[i].stop and (n == 1 or bool((np.diff(positions) == 1).all())):
            return segments[i].table.select(names).slice(first - segments[i].start, n)
        batches, batch_starts = self._batches(tuple(names))
        which = np.searchsorted(batch_starts, positions, side="right") - 1
        return _gather(batches, which, positions - batch_starts[which], names, batches[0].schema)

    def _batches(self, names: tuple[str, ...]) -> tuple[list[pa.RecordBatch], np.ndarray]:
        """Every segment's record batches restricted to ``names`` (cached), and the snapshot
        position each starts at."""
        key = ("batches", names)
        found = self._cache.get(key)
        if found is None:
            batches: list[pa.RecordBatch] = []
            starts: list[np.ndarray] = []
            for seg in self.segments:
                seg_batches, seg_starts = seg.batches
                batches.extend(b.select(list(names)) for b in seg_batches)
                starts.append(seg_starts + seg.start)
            found = self._cache[key] = (batches, np.concatenate(starts))
        return found

    def embeddings(self, positions: np.ndarray) -> np.ndarray:
        """(len(positions), dimension) float32, gathered from the record batches that hold them
        (a segment's whole matrix is never built for this)."""
        positions = np.asarray(positions, dtype=np.int64)
        out = np.empty((len(positions), self.dimension or 0), dtype=np.float32)
        if len(positions) == 0:
            return out
        batches, starts = self._batches(("embedding",))
        which = np.searchsorted(starts, positions, side="right") - 1
        for b in np.unique(which).tolist():
            picked = which == b
            out[picked] = _batch_matrix(batches[b], out.shape[1])[positions[picked] - starts[b]]
        return out

    # -- relations for SQL filters -------------------------------------------------------
    @cached_property
    def dead_rows(self) -> int:
        """Row versions held that are not live (replaced, deleted, tombstones)."""
        return len(self.live) - self.count

    @cached_property
    def sql_records(self) -> pa.Table:
        """``records(rowid, id, document, uri)`` of the live rows."""
        columns = ["rowid", "id", "document", "uri"]
        if self.table is None:
            return pa.table({"rowid": pa.array([], pa.int64()), "id": pa.array([], pa.string()),
                             "document": pa.array([], pa.string()), "uri": pa.array([], pa.string())})
        return self.rows(np.flatnonzero(self.live), columns)  # only these columns are taken

    @cached_property
    def sql_metadata(self) -> pa.Table:
        if self.table is None:
            return pa.table({"rowid": pa.array([], pa.int64()),
                             **{name: pa.array([], METADATA_ENTRY.field(name).type) for name in SCALAR_ENTRY_FIELDS}})
        metadata = scalar_metadata(self.table.column("metadata"))
        table = pa.table({"rowid": self.table.column("rowid"), "metadata": metadata})
        return long_metadata(table.take(pa.array(np.flatnonzero(self.live), pa.int64())))

    def sql_metadata_for(self, keys: frozenset[str]) -> pa.Table:
        """``metadata`` restricted to ``keys`` (cached): a filter scans only what it names."""
        cache_key = ("metadata", keys)
        table = self._cache.get(cache_key)
        if table is None:
            full = self.sql_metadata
            table = full.filter(pc.is_in(full.column("key"), value_set=pa.array(sorted(keys), pa.string())))
            self._cache[cache_key] = table
        return table

    @cached_property
    def rowid_index(self) -> tuple[np.ndarray, np.ndarray]:
        """(sorted live rowids, their positions) to map SQL results back to positions."""
        positions = np.flatnonzero(self.live)
        rowids = self.column_numpy("rowid")[positions]
        order = np.argsort(rowids)
        return rowids[order], positions[order]

    def positions_for_rowids(self, rowids: np.ndarray) -> np.ndarray:
        sorted_rowids, positions = self.rowid_index
        return positions[np.searchsorted(sorted_rowids, rowids)]


def sparse_rows_of(metadata: pa.ChunkedArray | pa.Array, key: str) -> SparseRows:
    """CSR sparse vectors under ``key`` from a long-form metadata column (Arrow compute, no row loop)."""
    n = len(metadata)
    if isinstance(metadata, pa.ChunkedArray):
        metadata = metadata.combine_chunks() if metadata.num_chunks != 1 else metadata.chunk(0)
    if n == 0:
        return SparseRows.empty(0)
    metadata = as_metadata(metadata)
    entries = pc.list_flatten(metadata)  # entries of non-null rows, in row order
    lists = entries.field("sparse_indices")
    if lists.null_count == len(lists):
        return SparseRows.empty(n)
    hit = pc.and_(pc.equal(entries.field("key"), key), lists.is_valid())
    picked = np.flatnonzero(np.asarray(hit.fill_null(False).to_numpy(zero_copy_only=False)))
    if len(picked) == 0:
        return SparseRows.empty(n)
    take = pa.array(picked, pa.int64())
    parents = np.asarray(pc.list_parent_indices(metadata), dtype=np.int64)[picked]
    indices = lists.take(take)
    lengths = np.asarray(pc.list_value_length(indices), dtype=np.int64)
    counts = np.zeros(n, dtype=np.int64)
    counts[parents] = lengths  # a key appears at most once per record
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    flat_indices = pc.list_flatten(indices).to_numpy(zero_copy_only=False)
    flat_values = pc.list_flatten(entries.field("sparse_values").take(take)).to_numpy(zero_copy_only=False)
    return SparseRows(offsets=offsets, indices=np.asarray(flat_indices, dtype=np.uint32),
                      values=np.asarray(flat_values, dtype=np.float32))


__all__ = ["Snapshot", "Segment", "resolve_latest", "PUT", "DELETE"]
