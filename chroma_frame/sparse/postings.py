"""One segment's inverted index over one sparse key: postings sorted by dimension.

As Arrow it is a table with one row per dimension, ``dim`` ascending, and the dimension's
postings as two parallel lists (``row`` ascending, ``value``)::

    dim: uint32 | row: list<int32> | value: list<float32>

so the file is readable by Polars or DuckDB, and loads into numpy without a copy: the list
offsets are the posting boundaries. Rows are the segment's own row numbers (dead rows included:
liveness is the snapshot's business).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from chroma_frame.sparse.rows import SparseRows

FORMAT = "1"


class CorruptPostings(Exception):
    """A postings file that cannot be used; the caller rebuilds it."""


@dataclass(frozen=True)
class Postings:
    dims: np.ndarray  # uint32, strictly ascending
    starts: np.ndarray  # int32 or int64, len(dims) + 1: postings of dims[i] are [starts[i], starts[i+1])
    rows: np.ndarray  # int32, ascending within a dimension
    values: np.ndarray  # float32
    n_rows: int  # rows of the segment

    def gather(self, query_dims: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Postings of ``query_dims`` (sorted, unique): (query slot, row, value) per posting."""
        pos = np.searchsorted(self.dims, query_dims)
        inside = pos < len(self.dims)
        found = np.zeros(len(query_dims), dtype=bool)
        found[inside] = self.dims[pos[inside]] == query_dims[inside]
        slots = np.flatnonzero(found)
        lo = self.starts[pos[slots]].astype(np.int64)
        lengths = self.starts[pos[slots] + 1].astype(np.int64) - lo
        total = int(lengths.sum())
        if total == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32)
        # the concatenation of the ranges [lo, lo + length), without a Python loop
        shift = np.repeat(lo - (np.cumsum(lengths) - lengths), lengths)
        index = shift + np.arange(total, dtype=np.int64)
        return np.repeat(slots, lengths), self.rows[index], self.values[index]

    # -- Arrow -----------------------------------------------------------------------------
    def to_table(self, key: str) -> pa.Table:
        big = len(self.rows) >= 2**31 - 1
        offsets = pa.array(self.starts, pa.int64() if big else pa.int32())
        list_type = pa.LargeListArray if big else pa.ListArray
        rows = list_type.from_arrays(offsets, pa.array(self.rows, pa.int32()))
        values = list_type.from_arrays(offsets, pa.array(self.values, pa.float32()))
        meta = {"format": FORMAT, "key": key, "rows": str(self.n_rows)}
        table = pa.table({"dim": pa.array(self.dims, pa.uint32()), "row": rows, "value": values})
        return table.replace_schema_metadata(meta)

    @classmethod
    def from_table(cls, table: pa.Table, *, key: str, n_rows: int) -> "Postings":
        """Zero copy where the table allows it; raises CorruptPostings when it does not fit."""
        meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        if meta.get("format") != FORMAT or meta.get("key") != key or meta.get("rows") != str(n_rows):
            raise CorruptPostings(f"postings do not match (metadata {meta}, expected key {key!r}, {n_rows} rows)")
        try:
            dims = _single(table, "dim")
            row_list, value_list = _single(table, "row"), _single(table, "value")
            starts = np.asarray(row_list.offsets)
            dims_np = np.asarray(dims.to_numpy(zero_copy_only=False), dtype=np.uint32)
            rows = np.asarray(row_list.values.to_numpy(zero_copy_only=False), dtype=np.int32)
            values = np.asarray(value_list.values.to_numpy(zero_copy_only=False), dtype=np.float32)
            same_offsets = np.array_equal(starts, np.asarray(value_list.offsets))
        except (KeyError, AttributeError, TypeError, pa.ArrowException) as exc:
            raise CorruptPostings(f"unreadable postings: {exc}") from exc
        postings = cls(dims_np, starts, rows, values, n_rows)
        postings.check(same_offsets)
        return postings

    def check(self, same_offsets: bool = True) -> None:
        n = len(self.dims)
        if not same_offsets or len(self.starts) != n + 1 or self.starts[0] != 0 or self.starts[-1] != len(self.rows) \
                or len(self.values) != len(self.rows):
            raise CorruptPostings("postings offsets are inconsistent")
        if n > 1 and not (np.all(np.diff(self.dims.astype(np.int64)) > 0) and np.all(np.diff(self.starts) > 0)):
            raise CorruptPostings("postings dimensions are not strictly ascending or a dimension is empty")
        if len(self.rows) and (int(self.rows.min()) < 0 or int(self.rows.max()) >= self.n_rows):
            raise CorruptPostings("postings rows are out of range")


def _single(table: pa.Table, name: str) -> pa.Array:
    column = table.column(name)
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def build_postings(sparse: SparseRows) -> Postings:
    """Invert a segment's CSR rows: postings grouped by dimension, rows ascending in each."""
    n = sparse.n_rows
    counts: np.ndarray = np.diff(np.asarray(sparse.offsets, dtype=np.int64))
    entry_rows = np.repeat(np.arange(n, dtype=np.int32), counts)
    indices = np.asarray(sparse.indices, dtype=np.uint32)
    order = np.argsort(indices, kind="stable")  # stable: rows stay ascending within a dimension
    dims_sorted = indices[order]
    if len(dims_sorted) == 0:
        return Postings(np.zeros(0, np.uint32), np.zeros(1, np.int64), np.zeros(0, np.int32),
                        np.zeros(0, np.float32), n)
    heads = np.flatnonzero(np.concatenate([[True], dims_sorted[1:] != dims_sorted[:-1]]))
    starts = np.append(heads, len(dims_sorted)).astype(np.int64)
    return Postings(dims_sorted[heads], starts, entry_rows[order],
                    np.asarray(sparse.values, dtype=np.float32)[order], n)
