"""Test helpers: Python records -> the ``records`` / ``metadata`` relations, and running SQL on them."""

from __future__ import annotations

from typing import Iterable, Optional

import duckdb
import pyarrow as pa

from chroma_frame.filters import CompiledFilter
from chroma_frame.storage.records import METADATA_ENTRY

ROWID_BASE = 1000  # rowids are positions plus an offset, so they never look like row numbers

RECORDS_SCHEMA = pa.schema([("rowid", pa.int64()), ("id", pa.string()), ("document", pa.string())])
# the engine's long-form metadata entry (docs/internals.md), with the record's rowid in front
METADATA_SCHEMA = pa.schema([("rowid", pa.int64()), *METADATA_ENTRY])
_FIELD = {str: "str_value", int: "int_value", float: "float_value", bool: "bool_value"}


def _entry(rowid: int, key: str, value, is_array: bool) -> dict:
    entry = {"rowid": rowid, "key": key, "str_value": None, "int_value": None, "float_value": None,
             "bool_value": None, "is_array": is_array}
    entry[_FIELD[type(value)]] = value
    return entry


def to_relations(records: Iterable[dict]) -> tuple[pa.Table, pa.Table]:
    """``records(rowid, id, document)`` and the long-form ``metadata`` of docs/internals.md."""
    rows, entries = [], []
    for position, record in enumerate(records):
        rowid = ROWID_BASE + position
        rows.append({"rowid": rowid, "id": record["id"], "document": record.get("document")})
        for key, value in (record.get("metadata") or {}).items():
            if isinstance(value, list):
                entries.extend(_entry(rowid, key, item, True) for item in value)
            else:
                entries.append(_entry(rowid, key, value, False))
    return (
        pa.Table.from_pylist(rows, schema=RECORDS_SCHEMA),
        pa.Table.from_pylist(entries, schema=METADATA_SCHEMA),
    )


def run_sql(
    con: duckdb.DuckDBPyConnection, records: list[dict], compiled: Optional[CompiledFilter], negate: bool = False
) -> set[str]:
    """Ids of the records the compiled filter selects (all of them for None); with ``negate``,
    the ones ``NOT (filter)`` selects."""
    records_table, metadata_table = to_relations(records)
    con.register("records", records_table)
    con.register("metadata", metadata_table)
    try:
        if compiled is None:
            rowids = [r[0] for r in con.execute("SELECT rowid FROM records").fetchall()]
        else:
            condition = f"NOT ({compiled.sql})" if negate else compiled.sql
            sql = f"SELECT rowid FROM records WHERE {condition}"
            rowids = [r[0] for r in con.execute(sql, list(compiled.params)).fetchall()]
    finally:
        con.unregister("records")
        con.unregister("metadata")
    return {records[rowid - ROWID_BASE]["id"] for rowid in rowids}
