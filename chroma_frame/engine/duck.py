"""DuckDB: runs compiled filters over a snapshot's ``records`` and ``metadata`` relations.

The relations are registered once per snapshot on each thread's connection (registering costs
milliseconds), and ``metadata`` holds only the keys the filter names.
"""

from __future__ import annotations

import threading
from typing import Iterable

import numpy as np

_local = threading.local()
_SMALL = 250_000  # below this many records one DuckDB thread beats the cost of scheduling many


def connection(small: bool = False):
    """A DuckDB connection of this thread (DuckDB connections are not shared across threads)."""
    name = "small" if small else "large"
    con = getattr(_local, name, None)
    if con is None:
        import duckdb

        con = duckdb.connect()
        if small:
            con.execute("SET threads = 1")
        setattr(_local, name, con)
        setattr(_local, name + "_registered", None)
    return con


def filter_sql(compiled_sql: str) -> str:
    return f"SELECT rowid FROM records WHERE {compiled_sql}"


def matching_rowids(snap, compiled_sql: str, params: tuple, keys: Iterable[str]) -> np.ndarray:
    """Rowids of the snapshot's live records for which the compiled filter is true."""
    keys = frozenset(keys)
    small = snap.count < _SMALL
    con = connection(small)
    slot = ("small" if small else "large") + "_registered"
    registered = getattr(_local, slot)
    if registered is None or registered[0] is not snap or registered[1] != keys:
        con.register("records", snap.sql_records)
        con.register("metadata", snap.sql_metadata_for(keys))
        setattr(_local, slot, (snap, keys))  # holds the snapshot: identity stays meaningful
    result = con.execute(filter_sql(compiled_sql), list(params)).fetchnumpy()
    return np.asarray(result["rowid"], dtype=np.int64)
