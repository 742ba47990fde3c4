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


def _slot(value: Any) -> int:
    if isinstance(value, bool):
        return 3
    if isinstance(value, int):
        return 1 if -(2**63) <= value < 2**63 else 2  # beyond int64: stored as a float, like Chroma
    if isinstance(value, float):
        return 2
    if isinstance(value, str):
        return 0
    raise TypeError(f"unsupported metadata value {value!r}")


def encode_metadata(metadatas: Sequence[dict | None]) -> pa.ListArray:
    """Chroma metadata dicts (validated) -> ``list<struct>`` long form, built column by column.

    A sparse vector value may be a ``SparseVector`` or its wire dict. Like Chroma, an int beyond
    int64 is stored as a float and a NaN is not stored at all (no comparison can match it); a
    record left without entries has no metadata (``None``, never ``{}``).
    """
    offsets = [0]
    keys: list[str] = []
    columns: list[list[Any]] = [[], [], [], []]
    is_array: list[bool] = []
    sparse: list[list[Any]] = [[], [], []]  # indices, values, tokens (None for scalar entries)
    valid: list[bool] = []

    def put(key: str, value: Any, array: bool) -> None:
        slot = _slot(value)
        if slot == 2:
            value = float(value)
            if math.isnan(value):
                return
        keys.append(key)
        for i, col in enumerate(columns):
            col.append(value if i == slot else None)
        is_array.append(array)
        for col in sparse:
            col.append(None)

    def put_sparse(key: str, indices: list, values: list, tokens: list | None) -> None:
        keys.append(key)
        for col in columns:
            col.append(None)
        is_array.append(False)
        sparse[0].append(indices)
        sparse[1].append(values)
        sparse[2].append(tokens)

    for metadata in metadatas:
        first = len(keys)
        for key, value in (metadata or {}).items():
            if value is None:
                continue
            parts = sparse_parts(value)
            if parts is not None:
                put_sparse(key, *parts)
            elif isinstance(value, list):
                for item in value:
                    put(key, item, True)
            else:
                put(key, value, False)
        valid.append(len(keys) > first)
        offsets.append(len(keys))
    entries = pa.StructArray.from_arrays(
        [
            pa.array(keys, pa.string()),
            pa.array(columns[0], pa.string()),
            pa.array(columns[1], pa.int64()),
            pa.array(columns[2], pa.float64()),
            pa.array(columns[3], pa.bool_()),
            pa.array(is_array, pa.bool_()),
            pa.array(sparse[0], SPARSE_INDICES),
            pa.array(sparse[1], SPARSE_VALUES),
            pa.array(sparse[2], SPARSE_TOKENS),
        ],
        fields=list(METADATA_ENTRY),
    )
    mask = pa.array([not v for v in valid], pa.bool_())
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), entries, type=METADATA, mask=mask)


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
    return pa.ListArray.from_arrays(array.offsets, entries, type=METADATA, mask=array.is_null())


_SCALAR_ENTRY = pa.struct([METADATA_ENTRY.field(name) for name in SCALAR_ENTRY_FIELDS])


def scalar_metadata(array: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """The long form without the sparse fields, zero copy: what filters read (and cheap to take)."""
    if isinstance(array, pa.ChunkedArray):
        return pa.chunked_array([scalar_metadata(c) for c in array.chunks], pa.list_(_SCALAR_ENTRY))
    values = array.values
    entries = pa.StructArray.from_arrays([values.field(name) for name in SCALAR_ENTRY_FIELDS], fields=list(_SCALAR_ENTRY))
    return pa.ListArray.from_arrays(array.offsets, entries, mask=array.is_null())


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


def build_rows(
    *,
    dimension: int,
    seqs: Sequence[int] | int,
    rowids: Sequence[int],
    ops: Sequence[int] | int,
    ids: Sequence[str],
    documents: Sequence[str | None] | None = None,
    uris: Sequence[str | None] | None = None,
    metadatas: Sequence[dict | None] | None = None,
    embeddings: np.ndarray | None = None,
) -> pa.Table:
    """Rows of :func:`record_schema`; ``embeddings`` is an (n, dimension) float32 array or None."""
    n = len(ids)
    nulls = pa.nulls(n, pa.string())
    seq_col = pa.array([seqs] * n if isinstance(seqs, int) else seqs, pa.int64())
    op_col = pa.array([ops] * n if isinstance(ops, int) else ops, pa.int8())
    if embeddings is None:
        emb = pa.nulls(n, pa.list_(pa.float32(), dimension))
    else:
        flat = pa.array(np.ascontiguousarray(embeddings, dtype=np.float32).reshape(-1))
        emb = pa.FixedSizeListArray.from_arrays(flat, dimension)
    return pa.Table.from_arrays(
        [
            seq_col,
            pa.array(rowids, pa.int64()),
            op_col,
            pa.array(ids, pa.string()),
            nulls if documents is None else pa.array(documents, pa.string()),
            nulls if uris is None else pa.array(uris, pa.string()),
            encode_metadata(metadatas if metadatas is not None else [None] * n),
            emb,
        ],
        schema=record_schema(dimension),
    )
