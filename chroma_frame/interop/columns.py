"""Metadata between its stored long form and one column per key, vectorised (no per-row Python).

The stored form (``list<struct<key, str_value, int_value, float_value, bool_value, is_array>>``,
see docs/internals.md) becomes one column per key, typed by this rule (docs/dataframes.md):

* every value of the key has one type -> that type (``string``, ``int64``, ``float64``, ``bool``);
* ints and floats -> ``float64``;
* any other mix (say strings and ints) -> ``string`` (ints and floats in decimal, bools as
  ``true``/``false``);
* a list value in any record -> ``list<T>`` with ``T`` by the same rule (a scalar in another
  record becomes a one-element list);
* a record without the key -> null;
* sparse vectors -> ``struct<indices: list<uint32>, values: list<float32>, tokens: list<string>>``
  (a key mixing sparse vectors and scalars takes the scalars' type, sparse cells are null, and
  the key is not lossless).

A key is *lossless* when the first rule applies; the Parquet export falls back to the long form
otherwise so that it round-trips exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chroma_frame.storage.records import (
    METADATA,
    METADATA_ENTRY,
    SPARSE_INDICES,
    SPARSE_TOKENS,
    SPARSE_VALUES,
    U32_MAX,
    as_metadata,
)

CORE_COLUMNS = ("id", "document", "uri", "embedding")
RESERVED = frozenset(CORE_COLUMNS + ("metadata",))
_FIELDS = ("str_value", "int_value", "float_value", "bool_value")
_KIND_OF_FIELD = {"str_value": "str", "int_value": "int", "float_value": "float", "bool_value": "bool"}
SPARSE_COLUMN = pa.struct([("indices", SPARSE_INDICES), ("values", SPARSE_VALUES), ("tokens", SPARSE_TOKENS)])
_ARROW = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "mixed": pa.string(),
          "sparse": SPARSE_COLUMN}


@dataclass(frozen=True)
class KeySpec:
    """How one metadata key becomes a column."""

    key: str
    name: str  # the column name (``metadata.<key>`` when the key collides with a core column)
    kind: str  # "str" | "int" | "float" | "bool" | "mixed" | "sparse"
    is_list: bool
    lossless: bool

    @property
    def arrow_type(self) -> pa.DataType:
        value = _ARROW[self.kind]
        return pa.list_(value) if self.is_list else value


def as_array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        if column.num_chunks == 1:
            return column.chunk(0)
        return column.combine_chunks() if column.num_chunks else pa.array([], column.type)
    return column


def flatten(metadata: pa.Array | pa.ChunkedArray) -> tuple[pa.StructArray, np.ndarray]:
    """The entries of a long-form column and the row each belongs to."""
    array = as_metadata(as_array(metadata))
    parents = np.asarray(pc.list_parent_indices(array), dtype=np.int64)
    return array.flatten(), parents


_STATS = [(f, "count") for f in _FIELDS] + [("is_array", "any"), ("is_array", "all"), ("sparse", "sum")]
_MERGE = {f"{f}_count": "sum" for f in _FIELDS} | {"is_array_any": "any", "is_array_all": "all", "sparse_sum": "sum"}


def key_stats(entries: pa.StructArray | pa.Table) -> pa.Table:
    """Per key of long-form ``entries``, in order of first appearance: how many values of each
    type, whether any / all are list elements, how many are sparse vectors. Stats of
    consecutive parts of the entries merge exactly (:func:`merge_key_stats`)."""
    get = entries.column if isinstance(entries, pa.Table) else entries.field
    table = pa.table({name: get(name) for name in ("key", *_FIELDS, "is_array")})
    table = table.append_column("sparse", pc.cast(pc.is_valid(get("sparse_indices")), pa.int64()))
    return table.group_by("key", use_threads=False).aggregate(_STATS)


def merge_key_stats(parts: Sequence[pa.Table]) -> pa.Table:
    """The :func:`key_stats` of entries from the stats of their consecutive parts, in order."""
    merged = pa.concat_tables(parts).group_by("key", use_threads=False).aggregate(list(_MERGE.items()))
    return merged.rename_columns([name if name == "key" else name.rsplit("_", 1)[0] for name in merged.column_names])


def key_specs(entries: pa.StructArray | pa.Table, reserved: Iterable[str] = RESERVED) -> list[KeySpec]:
    """One spec per key of long-form ``entries``, in order of first appearance."""
    if len(entries) == 0:
        return []
    return specs_of(key_stats(entries), reserved)


def specs_of(stats: pa.Table, reserved: Iterable[str] = RESERVED) -> list[KeySpec]:
    """One spec per key of :func:`key_stats`."""
    found = stats.to_pydict()
    reserved = set(reserved)
    specs = []
    for i, key in enumerate(found["key"]):  # one iteration per distinct key, not per row
        present = [_KIND_OF_FIELD[f] for f in _FIELDS if found[f"{f}_count"][i]]
        sparse = bool(found["sparse_sum"][i])
        if sparse and not present:
            kind = "sparse"
        elif len(present) == 1:
            kind = present[0]
        elif set(present) == {"int", "float"}:
            kind = "float"
        else:
            kind = "mixed"
        is_list, all_list = bool(found["is_array_any"][i]), bool(found["is_array_all"][i])
        name = f"metadata.{key}" if key in reserved else key
        lossless = (len(present) + sparse == 1) and is_list == all_list and name == key
        specs.append(KeySpec(key, name, kind, is_list, lossless))
    return specs


def _values(entries: pa.StructArray, kind: str) -> pa.Array:
    if kind == "sparse":
        children = [entries.field(f"sparse_{name}") for name in ("indices", "values", "tokens")]
        return pa.StructArray.from_arrays(children, fields=list(SPARSE_COLUMN), mask=children[0].is_null())
    if kind in ("str", "int", "bool"):
        return entries.field(f"{kind}_value")
    if kind == "float":
        return pc.coalesce(entries.field("float_value"), entries.field("int_value").cast(pa.float64(), safe=False))
    return pc.coalesce(
        entries.field("str_value"),
        entries.field("int_value").cast(pa.string()),
        entries.field("float_value").cast(pa.string(), safe=False),
        entries.field("bool_value").cast(pa.string()),
    )


def pivot(metadata: pa.Array | pa.ChunkedArray, specs: Sequence[KeySpec]) -> list[pa.Array]:
    """One array per spec, ``len(metadata)`` long, from a long-form column."""
    n = len(metadata)
    if not specs:
        return []
    entries, parents = flatten(metadata)
    keys = entries.field("key")
    wanted = pa.array([s.key for s in specs], pa.string())
    codes = np.asarray(pc.index_in(keys, value_set=wanted).fill_null(-1), dtype=np.int64)
    order = np.argsort(codes, kind="stable")  # entries grouped by key, row order kept inside a key
    bounds = np.searchsorted(codes[order], np.arange(len(specs) + 1))
    out = []
    for i, spec in enumerate(specs):
        picked = order[bounds[i] : bounds[i + 1]]
        rows = parents[picked]
        values = _values(entries.take(pa.array(picked, pa.int64())), spec.kind)
        out.append(_list_column(values, rows, n) if spec.is_list else _scatter(values, rows, n))
    return out


def _scatter(values: pa.Array, rows: np.ndarray, n: int) -> pa.Array:
    where = np.full(n, -1, dtype=np.int64)
    where[rows] = np.arange(len(rows), dtype=np.int64)
    return values.take(pa.array(where, mask=where < 0))


def _list_column(values: pa.Array, rows: np.ndarray, n: int) -> pa.Array:
    counts = np.bincount(rows, minlength=n)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), values, mask=pa.array(counts == 0))


# -- columns -> long form (ingest) ------------------------------------------------------------

def value_kind(dtype: pa.DataType) -> str | None:
    """Which long-form slot a scalar Arrow type goes to (None: not a metadata type)."""
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
        return "str"
    if pa.types.is_boolean(dtype):
        return "bool"
    if pa.types.is_integer(dtype):
        return "int"
    if pa.types.is_floating(dtype):
        return "float"
    return None


def is_list_type(dtype: pa.DataType) -> bool:
    return (pa.types.is_list(dtype) or pa.types.is_large_list(dtype) or pa.types.is_fixed_size_list(dtype)
            or pa.types.is_list_view(dtype) or pa.types.is_large_list_view(dtype))


def decode_dictionary(array: pa.Array) -> pa.Array:
    return array.dictionary_decode() if pa.types.is_dictionary(array.type) else array


def _as_slot(values: pa.Array, kind: str) -> pa.Array:
    target = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}[kind]
    return values if values.type == target else values.cast(target)


class UnsupportedColumn(ValueError):
    """A metadata column whose values Chroma cannot store (the caller reports Chroma's error)."""


class UnsupportedColumnType(UnsupportedColumn):
    """A metadata column of a type no value of which Chroma can store: the message names the fix."""


def iso_strings(values: pa.Array) -> pa.Array:
    """Timestamps and dates as ISO 8601 strings (Chroma metadata has no time type): ``2024-06-01``,
    ``2024-06-01T12:30:00``, with the offset when the column has a time zone (``+0200``) and
    the fraction when a value has one."""
    if pa.types.is_date(values.type):
        return pc.strftime(values, format="%Y-%m-%d")
    unit, tz = values.type.unit, values.type.tz
    pattern = "%Y-%m-%dT%H:%M:%S" + ("%z" if tz else "")
    if unit == "s":
        return pc.strftime(values, format=pattern)
    floored = pc.floor_temporal(values, unit="second")
    whole = pc.equal(floored, values)
    seconds = pc.strftime(floored.cast(pa.timestamp("s", tz)), format=pattern)
    return pc.if_else(whole, seconds, pc.strftime(values, format=pattern))  # a fraction only where there is one


def to_long(columns: Sequence[tuple[str, pa.Array]], n: int) -> pa.ListArray:
    """Long-form metadata from ``(key, column)`` pairs; a null cell means the key is absent.

    Timestamps and dates become ISO 8601 strings (:func:`iso_strings`). Raises
    :class:`UnsupportedColumn` for a type Chroma cannot store, a list with null elements, an empty
    list, or an unsigned value above the int64 range.
    """
    parts_rows: list[np.ndarray] = []
    parts: list[tuple[int, str, pa.Array, bool]] = []  # (key index, slot, values, is_array)
    for k, (key, column) in enumerate(columns):
        column = decode_dictionary(as_array(column))
        if pa.types.is_null(column.type):
            continue
        if pa.types.is_struct(column.type):
            valid = column.is_valid().to_numpy(zero_copy_only=False)
            rows = np.flatnonzero(valid)
            parts_rows.append(rows)
            parts.append((k, "sparse", sparse_struct(key, column.filter(pa.array(valid))), False))
            continue
        if is_list_type(column.type):
            column = column.cast(pa.list_(column.type.value_type)) if not pa.types.is_list(column.type) else column
            lengths = np.asarray(pc.list_value_length(column).fill_null(-1), dtype=np.int64)
            if (lengths == 0).any():
                raise UnsupportedColumn(f"empty list in metadata column {key!r}")
            flat = decode_dictionary(column.flatten())
            rows = np.asarray(pc.list_parent_indices(column), dtype=np.int64)
            is_array = True
        else:
            valid = column.is_valid().to_numpy(zero_copy_only=False)
            rows = np.flatnonzero(valid)
            flat = column.filter(pa.array(valid)) if not valid.all() else column
            is_array = False
        if pa.types.is_timestamp(flat.type) or pa.types.is_date(flat.type):
            flat = iso_strings(flat)
        kind = value_kind(flat.type)
        if kind is None:
            raise UnsupportedColumnType(
                f"ingest: metadata column {key!r} has type {column.type}, which Chroma metadata cannot hold "
                "(str, int, float, bool, lists of one of them, sparse vectors); convert it first, e.g. durations "
                "to seconds, or leave it out with metadata_columns=")
        if flat.null_count:
            raise UnsupportedColumn(f"null element in a list of metadata column {key!r}")
        if pa.types.is_uint64(flat.type) and len(flat) and pc.max(flat).as_py() > 2**63 - 1:
            raise UnsupportedColumn(f"metadata column {key!r} holds an integer above the int64 range")
        parts_rows.append(rows)
        parts.append((k, kind, _as_slot(flat, kind), is_array))
    if not parts:
        return pa.nulls(n, METADATA)
    rows = np.concatenate(parts_rows)
    order = np.argsort(rows, kind="stable")  # row-major; columns and list elements keep their order
    total = len(rows)
    key_index = np.concatenate([np.full(len(p[2]), p[0], dtype=np.int32) for p in parts])
    key_names = pa.array([key for key, _ in columns], pa.string())
    fields = []
    for slot in ("str", "int", "float", "bool"):
        typ = _ARROW[slot]
        chunks = [p[2] if p[1] == slot else pa.nulls(len(p[2]), typ) for p in parts]
        fields.append(pa.concat_arrays(chunks))
    sparse_fields = []
    for i, typ in enumerate((SPARSE_INDICES, SPARSE_VALUES, SPARSE_TOKENS)):
        chunks = [p[2].field(i) if p[1] == "sparse" else pa.nulls(len(p[2]), typ) for p in parts]
        sparse_fields.append(pa.concat_arrays(chunks))
    array_flags = np.concatenate([np.full(len(p[2]), p[3], dtype=bool) for p in parts])
    take = pa.array(order, pa.int64())
    entries = pa.StructArray.from_arrays(
        [key_names.take(pa.array(key_index[order])), *(f.take(take) for f in fields), pa.array(array_flags[order]),
         *(f.take(take) for f in sparse_fields)],
        fields=list(METADATA_ENTRY),
    )
    counts = np.bincount(rows, minlength=n)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    assert total == offsets[-1]
    return pa.ListArray.from_arrays(pa.array(offsets), entries, type=METADATA, mask=pa.array(counts == 0))



def sparse_struct(key: str, column: pa.StructArray) -> pa.StructArray:
    """A struct column of sparse vectors (``indices``, ``values``, optional ``tokens``), checked
    like ``SparseVector`` and cast to :data:`SPARSE_COLUMN` (no nulls: the caller drops null cells)."""
    names = {column.type.field(i).name for i in range(column.type.num_fields)}
    if not {"indices", "values"} <= names or not names <= {"indices", "values", "tokens"}:
        raise UnsupportedColumn(f"metadata column {key!r} has type {column.type}")
    try:
        indices = column.field("indices").cast(pa.list_(pa.int64()))
        values = column.field("values").cast(SPARSE_VALUES)
        tokens = (column.field("tokens").cast(SPARSE_TOKENS) if "tokens" in names
                  else pa.nulls(len(column), SPARSE_TOKENS))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise UnsupportedColumn(f"metadata column {key!r} has type {column.type}: {e}") from None
    if indices.null_count or values.null_count:
        raise UnsupportedColumn(f"sparse vector without indices or values in metadata column {key!r}")
    lengths = np.asarray(pc.list_value_length(indices), dtype=np.int64)
    token_lengths = np.asarray(pc.list_value_length(tokens).fill_null(-1), dtype=np.int64)
    if (np.asarray(pc.list_value_length(values), dtype=np.int64) != lengths).any() or (
        (token_lengths >= 0) & (token_lengths != lengths)
    ).any():
        raise UnsupportedColumn(f"sparse vector lengths differ in metadata column {key!r}")
    flat = np.asarray(pc.list_flatten(indices).to_numpy(zero_copy_only=False), dtype=np.int64)
    parents = np.asarray(pc.list_parent_indices(indices), dtype=np.int64)
    if len(flat) and (flat.min() < 0 or flat.max() > U32_MAX):
        raise UnsupportedColumn(f"sparse vector index out of the u32 range in metadata column {key!r}")
    if ((np.diff(flat) <= 0) & (np.diff(parents) == 0)).any():
        raise UnsupportedColumn(f"sparse vector indices not strictly ascending in metadata column {key!r}")
    return pa.StructArray.from_arrays([indices.cast(SPARSE_INDICES), values, tokens], fields=list(SPARSE_COLUMN))
