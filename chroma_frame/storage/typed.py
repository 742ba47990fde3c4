"""Typed metadata columns: one column per metadata key whose values all share one scalar type.

The long form (``metadata: list<struct<key, str_value, int_value, ...>>``) answers every filter
exactly; a key whose values in a table are all scalars of one type (``str``, ``int``, ``float`` or
``bool``: no lists, no sparse vectors, no mix of ints and floats) is also stored as one plain
column, null where a record lacks the key. Filters on such keys scan a column instead of every
record's entries (``chroma_frame.filters.typed``), and each column's min/max let a filter skip a
table that cannot match. Keys of other shapes stay on the long form only.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chroma_frame.storage.fs import Storage
from chroma_frame.storage.integrity import SEAL, SEAL_MAGIC, CorruptFileError, unseal
from chroma_frame.storage.records import as_metadata
from chroma_frame.storage.sink import ChecksumSink

logger = logging.getLogger(__name__)

KINDS = {"str_value": "str", "int_value": "int", "float_value": "float", "bool_value": "bool"}


@dataclass(frozen=True)
class TypedColumn:
    """A key's values as one column of ``kind``, with its statistics (None when all null)."""

    key: str
    kind: str  # "str" | "int" | "float" | "bool"
    values: pa.Array
    min: Any
    max: Any


def typed_columns(metadata: pa.Array | pa.ChunkedArray) -> tuple[dict[str, TypedColumn], frozenset]:
    """The typed column of every single-typed scalar key of a long-form metadata column, and the
    other keys it holds (lists, sparse vectors, mixed types: on the long form only)."""
    if isinstance(metadata, pa.ChunkedArray):
        metadata = metadata.combine_chunks() if metadata.num_chunks != 1 else metadata.chunk(0)
    metadata = as_metadata(metadata)
    n = len(metadata)
    entries = pc.list_flatten(metadata)  # entries of non-null rows, in row order
    if n == 0 or len(entries) == 0:
        return {}, frozenset()
    parents = np.asarray(pc.list_parent_indices(metadata), dtype=np.int64)
    keys = entries.field("key")
    table = pa.table({"key": keys, **{f: entries.field(f).is_valid() for f in KINDS},
                      "is_array": entries.field("is_array"), "sparse": entries.field("sparse_indices").is_valid()})
    aggregates = [(f, "any") for f in (*KINDS, "is_array", "sparse")] + [(f, "all") for f in KINDS]
    stats = table.group_by("key", use_threads=False).aggregate(aggregates).to_pydict()
    wanted: dict[str, str] = {}
    for i, key in enumerate(stats["key"]):  # one iteration per distinct key
        present = [field for field in KINDS if stats[f"{field}_any"][i]]
        if (len(present) == 1 and stats[f"{present[0]}_all"][i]
                and not stats["is_array_any"][i] and not stats["sparse_any"][i]):
            wanted[key] = present[0]
    others = frozenset(stats["key"]) - set(wanted)
    if not wanted:
        return {}, others
    names = pa.array(list(wanted), pa.string())
    codes = np.asarray(pc.index_in(keys, value_set=names).fill_null(-1), dtype=np.int64)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(wanted) + 1))
    out = {}
    for i, (key, field) in enumerate(wanted.items()):
        picked = order[bounds[i]: bounds[i + 1]]
        values = entries.field(field).take(pa.array(picked, pa.int64()))
        valid = np.zeros(n, dtype=bool)
        valid[parents[picked]] = True  # a key appears at most once per record
        slots = np.cumsum(valid) - 1
        column = values.take(pa.array(np.where(valid, slots, 0), pa.int64()))
        column = pc.if_else(pa.array(valid), column, pa.nulls(n, column.type))
        bounds_of = pc.min_max(column).as_py()
        out[key] = TypedColumn(key, KINDS[field], column, bounds_of["min"], bounds_of["max"])
    return out, others



# -- the companion file of a blockfile ---------------------------------------------------------

TYPED_SUFFIX = ".typed.ipc"
TYPED_FORMAT = 1
_META = b"chroma_frame.typed"


def typed_path(block_rel: str) -> str:
    """``blocks/<uuid>.typed.ipc`` for blockfile ``blocks/<uuid>.arrow`` (not ``.arrow``: tools that
    take ``blocks/*.arrow`` for blockfiles do not pick it up)."""
    return str(block_rel).rsplit(".", 1)[0] + TYPED_SUFFIX


def write_typed(storage: Storage, prefix: str, block_rel: str,
                typed: tuple[dict[str, TypedColumn], frozenset]) -> None:
    """Write a blockfile's typed columns next to it: an Arrow IPC file (one column per key,
    named by the key; kinds, bounds and the long-form-only keys in the schema's metadata),
    sealed with its length and CRC-32C (``storage.integrity``)."""
    columns, others = typed
    header = {"format": TYPED_FORMAT, "others": sorted(others),
              "kinds": {key: c.kind for key, c in columns.items()},
              "bounds": {key: [c.min, c.max] for key, c in columns.items()}}
    schema = pa.schema([pa.field(key, c.values.type) for key, c in columns.items()],
                       metadata={_META: json.dumps(header)})
    table = pa.Table.from_arrays([c.values for c in columns.values()], schema=schema)
    with storage.atomic_output(f"{prefix}/{typed_path(block_rel)}") as out:
        sink = ChecksumSink(out)
        with pa.ipc.new_file(sink, schema) as writer:
            writer.write_table(table)
        out.write(SEAL.pack(sink.size, sink.crc32c, SEAL_MAGIC))


def read_typed(storage: Storage, prefix: str, block_rel: str,
               rows: int) -> Optional[tuple[dict[str, TypedColumn], frozenset]]:
    """A blockfile's typed columns from its companion file (memory-mapped, checksum checked), or
    None when there is none (a blockfile of an older chroma-frame) or it cannot be trusted: the
    caller derives them from the long form, which stays the reference."""
    rel = f"{prefix}/{typed_path(block_rel)}"
    if not storage.exists(rel):
        return None
    try:
        payload = unseal(storage.open_input(rel).read_buffer(), storage.path(rel))
        table = pa.ipc.open_file(pa.BufferReader(payload)).read_all()
        header = json.loads((table.schema.metadata or {})[_META])
        if header.get("format") != TYPED_FORMAT or table.num_rows != rows:
            raise ValueError(f"format {header.get('format')}, {table.num_rows} rows for {rows}")
        columns = {}
        for key in table.column_names:
            low, high = header["bounds"][key]
            columns[key] = TypedColumn(key, header["kinds"][key], _one_chunk(table.column(key)), low, high)
        return columns, frozenset(header["others"])
    except (CorruptFileError, pa.ArrowException, OSError, ValueError, KeyError) as exc:
        logger.warning("ignoring %s (typed columns are derived from the blockfile instead): %s", rel, exc)
        return None


def _one_chunk(column: pa.ChunkedArray) -> pa.Array:
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


__all__ = ["KINDS", "TYPED_SUFFIX", "TypedColumn", "read_typed", "typed_columns", "typed_path", "write_typed"]
