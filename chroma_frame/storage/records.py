"""The Arrow schema of a record and the conversions between Chroma's Python values and it.

See docs/internals.md ("The record relation"): every log entry and every blockfile holds rows of
this schema; metadata is stored in long form, one struct per scalar key or list element.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pyarrow as pa

PUT = 0
DELETE = 1

METADATA_ENTRY = pa.struct(
    [
        ("key", pa.string()),
        ("str_value", pa.string()),
        ("int_value", pa.int64()),
        ("float_value", pa.float64()),
        ("bool_value", pa.bool_()),
        ("is_array", pa.bool_()),
    ]
)
METADATA = pa.list_(METADATA_ENTRY)


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
        return 1
    if isinstance(value, float):
        return 2
    if isinstance(value, str):
        return 0
    raise TypeError(f"unsupported metadata value {value!r}")


def encode_metadata(metadatas: Sequence[dict | None]) -> pa.ListArray:
    """Chroma metadata dicts (validated) -> ``list<struct>`` long form, built column by column."""
    offsets = [0]
    keys: list[str] = []
    columns: list[list[Any]] = [[], [], [], []]
    is_array: list[bool] = []
    valid: list[bool] = []

    def put(key: str, value: Any, array: bool) -> None:
        slot = _slot(value)
        keys.append(key)
        for i, col in enumerate(columns):
            col.append(value if i == slot else None)
        is_array.append(array)

    for metadata in metadatas:
        valid.append(metadata is not None)
        for key, value in (metadata or {}).items():
            if value is None:
                continue
            if isinstance(value, dict):  # a sparse vector: kept as its JSON text until sparse search lands
                import json

                put(key, json.dumps(value, sort_keys=True), False)
            elif isinstance(value, list):
                for item in value:
                    put(key, item, True)
            else:
                put(key, value, False)
        offsets.append(len(keys))
    entries = pa.StructArray.from_arrays(
        [
            pa.array(keys, pa.string()),
            pa.array(columns[0], pa.string()),
            pa.array(columns[1], pa.int64()),
            pa.array(columns[2], pa.float64()),
            pa.array(columns[3], pa.bool_()),
            pa.array(is_array, pa.bool_()),
        ],
        fields=list(METADATA_ENTRY),
    )
    mask = pa.array([not v for v in valid], pa.bool_())
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), entries, type=METADATA, mask=mask)


def decode_metadata(array: pa.Array | pa.ChunkedArray) -> list[dict | None]:
    """Long form -> Chroma metadata dicts (``None`` for a record without metadata).

    Like Chroma, a record whose metadata holds a NaN float reads back as ``None``.
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    if len(array) == 0:
        return []
    array = array.cast(METADATA) if array.type != METADATA else array
    flat = array.flatten()  # respects slicing and nulls
    offsets = np.asarray(array.value_lengths().fill_null(0), dtype=np.int64).cumsum()
    keys = flat.field("key").to_pylist()
    values = [flat.field(name).to_pylist() for name in _VALUE_FIELDS]
    is_array = flat.field("is_array").to_pylist()
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


def long_metadata(table: pa.Table) -> pa.Table:
    """``metadata(rowid, key, str_value, int_value, float_value, bool_value, is_array)`` for SQL."""
    column = table.column("metadata").combine_chunks()
    rowids = table.column("rowid").combine_chunks()
    parents = pa.compute.list_parent_indices(column)
    flat = column.flatten()
    return pa.table(
        {"rowid": rowids.take(parents), **{f.name: flat.field(f.name) for f in METADATA_ENTRY}}
    )


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
