"""DuckDB: runs compiled filters over a snapshot's ``records`` and ``metadata`` relations."""

from __future__ import annotations

import threading

import numpy as np

_local = threading.local()


def connection():
    """A DuckDB connection of this thread (DuckDB connections are not shared across threads)."""
    con = getattr(_local, "con", None)
    if con is None:
        import duckdb

        con = _local.con = duckdb.connect()
    return con


def filter_sql(compiled_sql: str) -> str:
    return f"SELECT rowid FROM records WHERE {compiled_sql}"


def matching_rowids(records, metadata, compiled_sql: str, params: tuple) -> np.ndarray:
    """Rowids of ``records`` rows for which the compiled filter is true."""
    con = connection()
    con.register("records", records)
    con.register("metadata", metadata)
    try:
        result = con.execute(filter_sql(compiled_sql), list(params)).fetchnumpy()
    finally:
        con.unregister("records")
        con.unregister("metadata")
    return np.asarray(result["rowid"], dtype=np.int64)
