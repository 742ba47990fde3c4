"""The Arrow schema of a record and the conversions between Chroma's Python values and it.

See docs/internals.md ("The record relation"): every log entry and every blockfile holds rows of
this schema; metadata is stored in long form, one struct per scalar key or list element.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

PUT = 0
DELETE = 1

# Scalar entries fill one of the four value fields; a sparse vector entry fills the three
# ``sparse_*`` lists instead (``sparse_tokens`` only when it has labels). Files written before the
# sparse fields existed lack them: :func:`as_metadata` / :func:`upgrade_table` add them as nulls.
SCALAR_ENTRY_FIELDS = ("key", "str_value", "int_value", "float_value", "bool_value", "is_array")
SPARSE_INDICES = pa.list_(pa.uint32())
SPARSE_VALUES = pa.list_(pa.float32())
SPARSE_TOKENS = pa.list_(pa.string())
METADATA_ENTRY = pa.struct(
    [
        ("key", pa.string()),
        ("str_value", pa.string()),
        ("int_value", pa.int64()),
        ("float_value", pa.float64()),
        ("bool_value", pa.bool_()),
        ("is_array", pa.bool_()),
        ("sparse_indices", SPARSE_INDICES),
        ("sparse_values", SPARSE_VALUES),
        ("sparse_tokens", SPARSE_TOKENS),
    ]
)
METADATA = pa.list_(METADATA_ENTRY)
U32_MAX = 2**32 - 1


def record_schema(dimension: int) -> pa.Schema:
    return pa.schema(
        [
            ("seq", pa.int64()),
            ("rowid", pa.int64()),
            ("op", pa.int8()),
            ("id", pa.string()),
            ("document", pa.string()),
            ("uri", pa.string()),
            ("metadata", METADATA),
            ("embedding", pa.list_(pa.float32(), dimension)),
        ]
    )


def dimension_of(schema: pa.Schema) -> int:
    return schema.field("embedding").type.list_size


# -- metadata: Python dicts <-> long form ------------------------------------------------------

_VALUE_FIELDS = ("str_value", "int_value", "float_value", "bool_value")


_STR, _INT, _FLOAT, _BOOL, _SPARSE, _REMOVAL = range(6)  # what an entry holds
_VALUE_TYPES = (pa.string(), pa.int64(), pa.float64(), pa.bool_())
_SLOTS = {str: _STR, int: _INT, float: _FLOAT, bool: _BOOL}


def _slot(value: Any) -> int:
    slot = _SLOTS.get(type(value))
    if slot is None:  # subclasses
        for kind in (bool, int, float, str):
            if isinstance(value, kind):
                slot = _SLOTS[kind]
                break
        else:
            raise TypeError(f"unsupported metadata value {value!r}")
    if slot == _INT and not -(2**63) <= value < 2**63:
        return _FLOAT  # beyond int64: stored as a float, like Chroma
    return slot


def encode_metadata(metadatas: Sequence[dict | None], *, removals: bool = False) -> pa.ListArray:
    """Chroma metadata dicts (validated) -> ``list<struct>`` long form, built column by column.

    A sparse vector value may be a ``SparseVector`` or its wire dict. Like Chroma, an int beyond
    int64 is stored as a float and a NaN is not stored at all (no comparison can match it); a
    record left without entries has no metadata (``None``, never ``{}``).

    ``removals=True`` (the input of an update or upsert) keeps a key whose value is ``None`` or
    NaN as a *removal*: an entry with no value (see :func:`removals`), which the merge turns into
    "drop this key" and which is never stored.
    """
    keys: list[str] = []
    values: list[Any] = []
    slots: list[int] = []
    is_array: list[bool] = []
    counts: list[int] = []
    for metadata in metadatas:
        first = len(keys)
        for key, value in metadata.items() if metadata else ():
            start = len(keys)
            slot = _SLOTS.get(type(value))
            if slot is None and value is not None:
                if isinstance(value, list):
                    for item in value:
                        item_slot = _slot(item)
                        if item_slot == _FLOAT:
                            item = float(item)
                            if item != item:  # NaN
                                continue
                        keys.append(key)
                        values.append(item)
                        slots.append(item_slot)
                        is_array.append(True)
                else:
                    parts = sparse_parts(value)
                    slot = _SPARSE if parts is not None else _slot(value)
                    value = parts if parts is not None else value
            if slot is not None:
                if slot == _INT and not -(2**63) <= value < 2**63:
                    slot = _FLOAT
                if slot == _FLOAT:
                    value = float(value)
                if slot != _FLOAT or value == value:  # NaN is not stored
                    keys.append(key)
                    values.append(value)
                    slots.append(slot)
                    is_array.append(False)
            if removals and len(keys) == start:  # None, or NaN only: the key goes
                keys.append(key)
                values.append(None)
                slots.append(_REMOVAL)
                is_array.append(False)
        counts.append(len(keys) - first)
    codes = np.asarray(slots, np.int8)
    entries = pa.StructArray.from_arrays(
        [pa.array(keys, pa.string()), *(_column(values, codes, slot, typ) for slot, typ in enumerate(_VALUE_TYPES)),
         pa.array(is_array, pa.bool_()), *_sparse_columns(values, codes)],
        fields=list(METADATA_ENTRY),
    )
    return group_entries(entries, np.repeat(np.arange(len(counts)), counts), len(counts))


def _column(values: list, codes: np.ndarray, slot: int, typ: pa.DataType) -> pa.Array:
    """The ``values`` whose code is ``slot`` as an Arrow column of all entries (null elsewhere)."""
    where = np.flatnonzero(codes == slot)
    if len(where) == len(codes):
        return pa.array(values, typ)
    return _spread(pa.array([values[i] for i in where.tolist()], typ), where, len(codes))


def _sparse_columns(values: list, codes: np.ndarray) -> list[pa.Array]:
    """``sparse_indices``, ``sparse_values``, ``sparse_tokens`` (values of sparse entries are
    ``(indices, values, tokens)``)."""
    where = np.flatnonzero(codes == _SPARSE)
    return [_spread(pa.array([values[i][part] for i in where.tolist()], typ), where, len(codes))
            for part, typ in enumerate((SPARSE_INDICES, SPARSE_VALUES, SPARSE_TOKENS))]


def _spread(array: pa.Array, where: np.ndarray, n: int) -> pa.Array:
    """``array`` placed at positions ``where`` of ``n``, null elsewhere."""
    if len(where) == 0:
        return pa.nulls(n, array.type)
    index = np.full(n, -1, np.int64)
    index[where] = np.arange(len(where))
    return array.take(pa.array(index, mask=index < 0))


def removals(entries: pa.StructArray) -> np.ndarray:
    """Mask of the entries that hold no value: removals of their key (``encode_metadata(removals=True)``)."""
    empty = pc.and_(pc.is_null(entries.field("sparse_indices")), pc.is_null(entries.field("str_value")))
    for name in ("int_value", "float_value", "bool_value"):
        empty = pc.and_(empty, pc.is_null(entries.field(name)))
    return np.asarray(empty.to_numpy(zero_copy_only=False), dtype=bool)


def group_entries(entries: pa.StructArray, rows: np.ndarray, n: int) -> pa.ListArray:
    """Long form of ``n`` records from ``entries`` in record order and the record of each
    (``rows``, non-decreasing); a record without entries has no metadata (null)."""
    counts = np.bincount(rows, minlength=n) if len(rows) else np.zeros(n, np.int64)
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(counts, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), entries, type=METADATA, mask=pa.array(counts == 0))


def sparse_parts(value: Any) -> tuple[list, list, list | None] | None:
    """(indices, values, tokens) of a sparse vector value (dataclass or wire dict), else None."""
    if isinstance(value, dict):
        if value.get("#type") != "sparse_vector":
            return None
        return value["indices"], value["values"], value.get("tokens")
    if type(value).__name__ == "SparseVector" and hasattr(value, "indices"):
        return value.indices, value.values, value.labels
    return None


def as_metadata(array: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A long-form column in the current :data:`METADATA` type (older files lack the sparse fields)."""
    if array.type == METADATA:
        return array
    if isinstance(array, pa.ChunkedArray):
        return pa.chunked_array([as_metadata(c) for c in array.chunks], METADATA)
    if not pa.types.is_list(array.type) or not pa.types.is_struct(array.type.value_type):
        return array.cast(METADATA)
    values = array.values  # offsets below index the unsliced child
    names = {values.type.field(i).name for i in range(values.type.num_fields)}
    children = [
        values.field(f.name).cast(f.type) if f.name in names else pa.nulls(len(values), f.type)
        for f in METADATA_ENTRY
    ]
    entries = pa.StructArray.from_arrays(children, fields=list(METADATA_ENTRY))
    return pa.ListArray.from_arrays(_offsets(array), entries, type=METADATA, mask=_mask(array))


_SCALAR_ENTRY = pa.struct([METADATA_ENTRY.field(name) for name in SCALAR_ENTRY_FIELDS])


def scalar_metadata(array: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """The long form without the sparse fields, zero copy: what filters read (and cheap to take)."""
    if isinstance(array, pa.ChunkedArray):
        return pa.chunked_array([scalar_metadata(c) for c in array.chunks], pa.list_(_SCALAR_ENTRY))
    values = array.values
    entries = pa.StructArray.from_arrays([values.field(name) for name in SCALAR_ENTRY_FIELDS],
                                         fields=list(_SCALAR_ENTRY))
    return pa.ListArray.from_arrays(_offsets(array), entries, mask=_mask(array))


def _mask(array: pa.ListArray) -> pa.Array | None:
    """The null mask for ``ListArray.from_arrays``; None without nulls (a mask, even all false,
    is refused together with the offsets of a slice)."""
    return array.is_null() if array.null_count else None


def _offsets(array: pa.ListArray) -> pa.Array:
    """``array``'s offsets as ``ListArray.from_arrays`` takes them with :func:`_mask`: pyarrow refuses
    a sliced offsets buffer together with a mask, so a slice holding nulls gets a copy."""
    offsets = array.offsets
    if array.offset and array.null_count:
        offsets = pa.array(offsets.to_numpy(), offsets.type)
    return offsets


def upgrade_table(table: pa.Table) -> pa.Table:
    """``table`` with its ``metadata`` column in the current type (a no-op for current files)."""
    index = table.schema.get_field_index("metadata")
    if index < 0 or table.schema.field(index).type == METADATA:
        return table
    return table.set_column(index, pa.field("metadata", METADATA), as_metadata(table.column(index)))


LEGACY_METADATA = pa.list_(_SCALAR_ENTRY)  # files written before sparse vectors existed
_RECORD_COLUMNS = ("seq", "rowid", "op", "id", "document", "uri", "metadata", "embedding")


def check_record_table(table: pa.Table, dimension: int | None = None, *, full: bool = False) -> str | None:
    """Why ``table`` cannot serve as rows of the record relation (of ``dimension`` when given); None if it can.

    Checks the schema (the current one, or the older metadata type :func:`upgrade_table` reads),
    then Arrow's validation: structural, or ``full`` (every offset, UTF-8, op codes) for bytes no
    checksum vouches for. An offset out of range would otherwise crash a later ``take``.
    """
    schema = table.schema
    if tuple(schema.names) != _RECORD_COLUMNS:
        return f"unexpected columns {schema.names}"
    expected = record_schema(max(dimension or 1, 1))
    for got, want in zip(schema, expected):
        if got.name == "embedding":
            t = got.type
            if not (pa.types.is_fixed_size_list(t) and t.value_type == pa.float32() and t.list_size > 0):
                return f"unexpected embedding type {t}"
            if dimension is not None and t.list_size != dimension:
                return f"embeddings of dimension {t.list_size}, expected {dimension}"
        elif got.name == "metadata":
            if got.type != METADATA and got.type != LEGACY_METADATA:
                return f"unexpected metadata type {got.type}"
        elif got.type != want.type:
            return f"column {got.name} of type {got.type}, expected {want.type}"
    try:
        table.validate(full=full)
    except pa.ArrowException as exc:
        return f"invalid Arrow data ({exc})"
    if full and table.num_rows:
        ops = table.column("op")
        bounds = pc.min_max(ops).as_py()
        if ops.null_count or bounds["min"] < PUT or bounds["max"] > DELETE:
            return "unknown op codes"
    return None


def decode_metadata(array: pa.Array | pa.ChunkedArray) -> list[dict | None]:
    """Long form -> Chroma metadata dicts (``None`` for a record without metadata).

    Like Chroma, a record whose metadata holds a NaN float reads back as ``None``. Sparse
    vectors come back as :class:`chroma_frame.base_types.SparseVector`.
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    if len(array) == 0:
        return []
    array = as_metadata(array)
    flat = array.flatten()  # respects slicing and nulls
    offsets = np.asarray(array.value_lengths().fill_null(0), dtype=np.int64).cumsum()
    keys = flat.field("key").to_pylist()
    values = [flat.field(name).to_pylist() for name in _VALUE_FIELDS]
    is_array = flat.field("is_array").to_pylist()
    sparse = _decode_sparse(flat)
    valid = array.is_valid().to_numpy(zero_copy_only=False)
    out: list[dict | None] = []
    start = 0
    for row, stop in enumerate(offsets.tolist()):
        if not valid[row]:
            out.append(None)
            start = stop
            continue
        metadata: dict[str, Any] = {}
        nan = False
        for i in range(start, stop):
            if sparse and i in sparse:
                metadata[keys[i]] = sparse[i]
                continue
            value = next(v[i] for v in values if v[i] is not None)
            if isinstance(value, float) and math.isnan(value):
                nan = True
            if is_array[i]:
                metadata.setdefault(keys[i], []).append(value)
            else:
                metadata[keys[i]] = value
        out.append(None if nan else metadata)
        start = stop
    return out


def f32_floats(values: np.ndarray) -> list[float]:
    """float32 values as the Python floats of their shortest decimal form (what Chroma's JSON shows).

    Sparse values are stored as float32, as in Chroma; ``0.1`` reads back as ``0.1``, not as
    ``0.10000000149011612``. Vectorised: the shortest of 6..9 significant digits that rounds
    back to the same float32 (numpy's printing for magnitudes beyond 1e±12).
    """
    x32 = np.asarray(values, dtype=np.float32)
    x = x32.astype(np.float64)
    out = x.copy()
    todo = np.isfinite(x) & (x != 0)
    with np.errstate(all="ignore"):
        magnitude = np.floor(np.log10(np.abs(np.where(todo, x, 1.0)))).astype(np.int64)
        # beyond 10**22 powers of ten are inexact in float64: print those few values instead
        extreme = todo & ((magnitude < -12) | (magnitude > 12))
        if extreme.any():
            out[extreme] = x32[extreme].astype(str).astype(np.float64)
            todo &= ~extreme
        for digits in range(6, 10):
            e = digits - 1 - magnitude
            up = np.power(10.0, np.abs(e))
            candidate = np.where(e >= 0, np.round(x * up) / up, np.round(x / up) * up)
            hit = todo & (candidate.astype(np.float32) == x32)
            out[hit] = candidate[hit]
            todo &= ~hit
    return out.tolist()


def _decode_sparse(flat: pa.StructArray) -> dict[int, Any]:
    """Entry position -> SparseVector for the sparse entries of flattened long form."""
    lists = flat.field("sparse_indices")
    if lists.null_count == len(lists):
        return {}
    from chroma_frame.base_types import SparseVector

    positions = np.flatnonzero(lists.is_valid().to_numpy(zero_copy_only=False))
    take = pa.array(positions, pa.int64())
    picked_indices = lists.take(take)
    picked_values = flat.field("sparse_values").take(take)
    tokens = flat.field("sparse_tokens").take(take).to_pylist()
    lengths = np.asarray(pc.list_value_length(picked_indices).fill_null(0), dtype=np.int64)
    bounds = np.concatenate([[0], np.cumsum(lengths)]).tolist()
    indices = np.asarray(pc.list_flatten(picked_indices).to_numpy(zero_copy_only=False)).tolist()
    floats = f32_floats(pc.list_flatten(picked_values).to_numpy(zero_copy_only=False))
    out = {}
    for j, position in enumerate(positions.tolist()):
        vector = SparseVector.__new__(SparseVector)  # stored vectors were validated on write
        vector.indices = indices[bounds[j] : bounds[j + 1]]
        vector.values = floats[bounds[j] : bounds[j + 1]]
        vector.labels = tokens[j]
        out[position] = vector
    return out


def long_metadata(table: pa.Table) -> pa.Table:
    """``metadata(rowid, key, str_value, int_value, float_value, bool_value, is_array)`` for SQL.

    Sparse entries appear with null values (filters compare scalars only). ``table["metadata"]``
    may be of any long-form type that has the scalar fields (see :func:`scalar_metadata`).
    """
    column = table.column("metadata").combine_chunks()
    rowids = table.column("rowid").combine_chunks()
    parents = pc.list_parent_indices(column)
    flat = column.flatten()
    return pa.table({"rowid": rowids.take(parents), **{name: flat.field(name) for name in SCALAR_ENTRY_FIELDS}})


# -- building a batch of rows -------------------------------------------------------------------


def record_table(
    *,
    dimension: int,
    seq: int,
    op: int,
    rowids: np.ndarray | pa.Array,
    ids: pa.Array,
    documents: pa.Array | None = None,
    uris: pa.Array | None = None,
    metadata: pa.Array | None = None,
    embeddings: np.ndarray | pa.Array | None = None,
) -> pa.Table:
    """Rows of :func:`record_schema` from columns (None: all null); ``embeddings`` is an
    (n, dimension) float32 matrix or a ``fixed_size_list`` array."""
    n = len(ids)
    embedding_type = pa.list_(pa.float32(), dimension)
    if embeddings is None:
        emb = pa.nulls(n, embedding_type)
    elif isinstance(embeddings, np.ndarray):
        flat = pa.array(np.ascontiguousarray(embeddings, dtype=np.float32).reshape(-1))
        emb = pa.FixedSizeListArray.from_arrays(flat, dimension)
    else:
        emb = embeddings if embeddings.type == embedding_type else embeddings.cast(embedding_type)
    return pa.Table.from_arrays(
        [
            pa.array(np.full(n, seq, np.int64)),
            pa.array(np.asarray(rowids, np.int64)) if isinstance(rowids, np.ndarray) else rowids,
            pa.array(np.full(n, op, np.int8)),
            ids,
            pa.nulls(n, pa.string()) if documents is None else documents,
            pa.nulls(n, pa.string()) if uris is None else uris,
            pa.nulls(n, METADATA) if metadata is None else metadata,
            emb,
        ],
        schema=record_schema(dimension),
    )


def build_rows(
    *,
    dimension: int,
    seqs: int,
    rowids: Sequence[int],
    ops: int,
    ids: Sequence[str],
    documents: Sequence[str | None] | None = None,
    uris: Sequence[str | None] | None = None,
    metadatas: Sequence[dict | None] | None = None,
    embeddings: np.ndarray | None = None,
) -> pa.Table:
    """:func:`record_table` from Python values (tests and benchmarks)."""
    return record_table(
        dimension=dimension, seq=seqs, op=ops, rowids=np.asarray(rowids, np.int64), ids=pa.array(ids, pa.string()),
        documents=None if documents is None else pa.array(documents, pa.string()),
        uris=None if uris is None else pa.array(uris, pa.string()),
        metadata=None if metadatas is None else encode_metadata(metadatas), embeddings=embeddings,
    )
