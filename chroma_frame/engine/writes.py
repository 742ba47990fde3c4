"""After-images: what add / upsert / update / delete write to the log, given a fresh snapshot.

Chroma's record semantics live here and nowhere else: an ``add`` of an existing id is dropped,
an ``update`` of a missing id is dropped, ``update`` and ``upsert`` merge metadata key by key (a
``None`` value removes the key; a record left without keys has no metadata) and keep the
document, uri and embedding they do not replace; an updated record keeps its rowid.

One path for every writer: ``Collection`` builds :class:`Records` from its validated lists
(:meth:`Records.from_lists`), ingest from each Arrow batch; the plans below work on columns
(Arrow takes and compute, numpy), never row by row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chroma_frame.engine.snapshot import Snapshot
from chroma_frame.errors import InvalidArgumentError
from chroma_frame.storage.records import (
    DELETE,
    PUT,
    as_metadata,
    encode_metadata,
    group_entries,
    record_table,
    removals,
)


@dataclass(frozen=True)
class Records:
    """Validated input records, as columns (a field the caller did not give is None).

    ``metadata`` is the stored long form, where a null row gives no metadata (update and upsert
    keep the old) and an entry without a value removes its key (``encode_metadata(removals=True)``).
    A null document or uri likewise keeps the old one.
    """

    ids: pa.Array  # string
    embeddings: np.ndarray | None = None  # (n, dimension) float32
    metadata: pa.Array | None = None
    documents: pa.Array | None = None
    uris: pa.Array | None = None

    @classmethod
    def from_lists(
        cls,
        ids: Sequence[str],
        embeddings: np.ndarray | None = None,
        metadatas: Sequence[dict | None] | None = None,
        documents: Sequence[str | None] | None = None,
        uris: Sequence[str | None] | None = None,
    ) -> "Records":
        """Records from the Python values that validation returns."""
        return cls(
            ids=pa.array(ids, pa.string()),
            embeddings=None if embeddings is None else np.asarray(embeddings, dtype=np.float32),
            metadata=None if metadatas is None else encode_metadata(metadatas, removals=True),
            documents=None if documents is None else pa.array(documents, pa.string()),
            uris=None if uris is None else pa.array(uris, pa.string()),
        )

    def __len__(self) -> int:
        return len(self.ids)


def find_live(snap: Snapshot, ids: pa.Array) -> np.ndarray:
    """Per id, the snapshot position of its live row, or -1."""
    out = np.full(len(ids), -1, np.int64)
    if snap.table is None or len(ids) == 0:
        return out
    column = snap.table.column("id")
    hit = np.asarray(pc.is_in(column, value_set=ids).to_numpy(zero_copy_only=False), dtype=bool) & snap.live
    positions = np.flatnonzero(hit)
    if len(positions) == 0:
        return out
    live_ids = column.take(pa.array(positions, pa.int64())).combine_chunks()  # unique: one live row per id
    where = np.asarray(pc.index_in(ids, value_set=live_ids).fill_null(-1).to_numpy(zero_copy_only=False), np.int64)
    found = where >= 0
    out[found] = positions[where[found]]
    return out


# -- plans ------------------------------------------------------------------------------------


def plan_add(snap: Snapshot, seq: int, records: Records, skip: np.ndarray | None = None) -> pa.Table | None:
    """New records only; ``skip`` (bulk ingest) leaves out rows whose embedding was not computed."""
    dimension = _check_dimension(snap, records)
    fresh = find_live(snap, records.ids) < 0
    if skip is not None:
        fresh &= ~skip
    return _new_rows(snap, seq, records, np.flatnonzero(fresh), dimension)


def plan_update(snap: Snapshot, seq: int, records: Records) -> pa.Table | None:
    if snap.table is None:
        return None
    dimension = _check_dimension(snap, records)
    return _merged_rows(snap, seq, records, find_live(snap, records.ids), dimension)


def plan_upsert(snap: Snapshot, seq: int, records: Records) -> pa.Table | None:
    dimension = _check_dimension(snap, records)
    positions = find_live(snap, records.ids)
    missing = np.flatnonzero(positions < 0)
    if len(missing) and records.embeddings is None:
        raise InvalidArgumentError("Embeddings are required to insert new records")
    parts = [t for t in (_merged_rows(snap, seq, records, positions, dimension),
                         _new_rows(snap, seq, records, missing, dimension)) if t is not None]
    if not parts:
        return None
    return pa.concat_tables(parts) if len(parts) > 1 else parts[0]


def plan_delete(snap: Snapshot, seq: int, positions: np.ndarray) -> pa.Table | None:
    if len(positions) == 0 or snap.dimension is None:
        return None
    old = snap.rows(positions, ["rowid", "id"])
    return record_table(dimension=snap.dimension, seq=seq, op=DELETE, rowids=_array(old.column("rowid")),
                        ids=_array(old.column("id")))


# -- after-images -----------------------------------------------------------------------------


def _check_dimension(snap: Snapshot, records: Records) -> int:
    if records.embeddings is None:
        if snap.dimension is None:
            raise InvalidArgumentError("Embeddings are required to add records to an empty collection")
        return snap.dimension
    got = int(records.embeddings.shape[1])
    if snap.dimension is not None and got != snap.dimension:
        raise InvalidArgumentError(f"Collection expecting embedding with dimension of {snap.dimension}, got {got}")
    return got


def _array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(column, pa.Array):
        return column
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _pick(array: pa.Array | None, rows: np.ndarray, n: int) -> pa.Array | None:
    """``array`` at ``rows`` (ascending); the array itself when that is every row."""
    if array is None or len(rows) == n:
        return array
    return array.take(pa.array(rows, pa.int64()))


def _new_rows(snap: Snapshot, seq: int, records: Records, rows: np.ndarray, dimension: int) -> pa.Table | None:
    """After-images of new records (``rows`` of ``records``), rowids after the snapshot's."""
    if len(rows) == 0:
        return None
    n = len(records)
    metadata = _pick(records.metadata, rows, n)
    embeddings = records.embeddings
    if embeddings is not None and len(rows) < n:
        embeddings = embeddings[rows]
    return record_table(
        dimension=dimension, seq=seq, op=PUT, rowids=np.arange(snap.next_rowid, snap.next_rowid + len(rows)),
        ids=_pick(records.ids, rows, n), documents=_pick(records.documents, rows, n), uris=_pick(records.uris, rows, n),
        metadata=None if metadata is None else merge_metadata(None, metadata), embeddings=embeddings,
    )


def _merged_rows(snap: Snapshot, seq: int, records: Records, positions: np.ndarray, dimension: int) -> pa.Table | None:
    """After-images of the records whose id is live (``positions`` >= 0): the old record with what
    ``records`` replaces; rowids kept."""
    rows = np.flatnonzero(positions >= 0)
    if len(rows) == 0:
        return None
    n = len(records)
    wanted = ["rowid", "document", "uri", "metadata"] + (["embedding"] if records.embeddings is None else [])
    old = snap.rows(positions[rows], wanted)

    def replaced(new: pa.Array | None, column: str) -> pa.Array:
        kept = _array(old.column(column))
        return kept if new is None else pc.coalesce(_pick(new, rows, n), kept)

    metadata = _array(old.column("metadata"))
    if records.metadata is not None:
        metadata = merge_metadata(metadata, _pick(records.metadata, rows, n))
    embeddings = _array(old.column("embedding")) if records.embeddings is None else records.embeddings[rows]
    return record_table(
        dimension=dimension, seq=seq, op=PUT, rowids=_array(old.column("rowid")), ids=_pick(records.ids, rows, n),
        documents=replaced(records.documents, "document"), uris=replaced(records.uris, "uri"),
        metadata=metadata, embeddings=embeddings,
    )


# -- metadata ---------------------------------------------------------------------------------


def merge_metadata(old: pa.Array | None, new: pa.Array) -> pa.Array:
    """Long form of ``old`` updated by ``new`` key by key, row by row (Chroma's update and upsert).

    A null ``new`` row keeps the old metadata; a key of ``new`` replaces all of that key's old
    entries (a list is one key) where they stood, or comes after the old keys; a removal drops the
    key; a record left without entries has none (null). ``old=None``: new records (removals
    dropped). As ``decode_metadata`` reads a record holding a NaN float as ``None``, such a row
    counts as null on either side (bulk ingest may carry NaNs).
    """
    n = len(new)
    new = as_metadata(new)
    new_entries, new_rows, intact = _entries(new)
    new_removal = removals(new_entries)
    if old is None:
        if intact and not new_removal.any() and new.null_count == _empty_or_null(new):
            return new  # nothing to drop: the input as it is
        keep = np.flatnonzero(~new_removal)
        return group_entries(new_entries.take(pa.array(keep, pa.int64())), new_rows[keep], n)
    old = as_metadata(old)
    old_entries, old_rows, _ = _entries(old)
    # positions within the record, and keys as one integer per (record, key)
    old_at = np.arange(len(old_rows)) - np.searchsorted(old_rows, old_rows)
    new_at = np.arange(len(new_rows)) - np.searchsorted(new_rows, new_rows)
    codes = np.asarray(pc.dictionary_encode(pa.concat_arrays([old_entries.field("key"), new_entries.field("key")]))
                       .indices.to_numpy(zero_copy_only=False), np.int64)
    width = int(codes.max()) + 1 if len(codes) else 1
    old_pair = old_rows * width + codes[: len(old_rows)]
    new_pair = new_rows * width + codes[len(old_rows):]
    kept_old = ~np.isin(old_pair, new_pair)
    # a replaced key takes the place of its first old entry; a new key comes after the old ones
    pairs, first = np.unique(old_pair, return_index=True)
    found = np.searchsorted(pairs, new_pair)
    found[found == len(pairs)] = 0
    matched = (pairs[found] == new_pair) if len(pairs) else np.zeros(len(new_pair), bool)
    old_count = np.bincount(old_rows, minlength=n) if len(old_rows) else np.zeros(n, np.int64)
    new_rank = np.where(matched, old_at[first[found]] if len(pairs) else 0, old_count[new_rows] + new_at)
    kept_new = ~new_removal
    rows = np.concatenate([old_rows[kept_old], new_rows[kept_new]])
    rank = np.concatenate([old_at[kept_old], new_rank[kept_new]])
    order = np.lexsort((np.arange(len(rows)), rank, rows))
    taken = np.concatenate([np.flatnonzero(kept_old), len(old_rows) + np.flatnonzero(kept_new)])[order]
    entries = pa.concat_arrays([old_entries, new_entries]).take(pa.array(taken, pa.int64()))
    return group_entries(entries, rows[order], n)


def _entries(metadata: pa.ListArray) -> tuple[pa.StructArray, np.ndarray, bool]:
    """The entries of the rows that count (not null, no NaN float), the row of each, and
    whether that is every entry."""
    entries = metadata.flatten()
    rows = np.asarray(pc.list_parent_indices(metadata).to_numpy(zero_copy_only=False), np.int64)
    floats = entries.field("float_value")
    if floats.null_count == len(floats):
        return entries, rows, True
    nan = pc.is_nan(floats).fill_null(False).to_numpy(zero_copy_only=False)
    if nan.any():
        keep = ~np.isin(rows, rows[nan])
        return entries.filter(pa.array(keep)), rows[keep], False
    return entries, rows, True


def _empty_or_null(metadata: pa.ListArray) -> int:
    return int(np.count_nonzero(np.asarray(metadata.value_lengths().fill_null(0).to_numpy(zero_copy_only=False)) == 0))
