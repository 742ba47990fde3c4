"""DuckDB: runs compiled filters over a snapshot's typed metadata tables, or its ``records`` and
``metadata`` relations.

Typed path (:func:`typed_matches`): each segment's table (a blockfile, or the log tail) has its
single-typed scalar metadata keys as plain columns (``storage.typed``) in a DuckDB table of one
process-wide database, made on first use and dropped when the Arrow table it came from is freed;
so a snapshot's relations live across queries, and every thread reads them through its own cursor.
A filter over such keys only (``filters.typed``) scans just the columns it names, of just the
segments whose min/max allow a match, and ``LIMIT`` stops at the first matches in insertion order.

Long-form path (:func:`matching_rowids`): the relations are registered once per snapshot on each
thread's connection (registering costs milliseconds), and ``metadata`` holds only the keys the
filter names.

Every statement has a deadline (DuckDB has no statement timeout: a watchdog thread interrupts
the connection): ``CHROMA_FRAME_QUERY_TIMEOUT`` seconds (default 60; ``0`` turns it off), or what
:func:`set_statement_timeout` set (the server sets its request deadline,
``CHROMA_FRAME_REQUEST_TIMEOUT``).
"""

from __future__ import annotations

import itertools
import os
import threading
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Optional

import numpy as np
import pyarrow as pa

from chroma_frame.errors import InternalError
from chroma_frame.filters.ast import Node
from chroma_frame.filters.typed import TypedCompiler, can_match, typed_ok
from chroma_frame.storage.typed import typed_columns

TIMEOUT_ENV = "CHROMA_FRAME_QUERY_TIMEOUT"
DEFAULT_TIMEOUT = 60.0
_timeout_override: Optional[float] = None

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
    with deadline(con):
        result = con.execute(filter_sql(compiled_sql), list(params)).fetchnumpy()
    return np.asarray(result["rowid"], dtype=np.int64)


# -- typed tables ---------------------------------------------------------------------------

@dataclass(frozen=True)
class TypedTable:
    """A segment's typed metadata as DuckDB table ``name(rid, c0, c1, ...)`` (rid: the record's rowid)."""

    name: str
    columns: dict  # key -> (column name, kind)
    long_form: frozenset  # keys present only in the long form (lists, sparse, mixed types)
    bounds: dict  # key -> (min, max); absent when the column is null throughout
    rid_min: int
    rid_sorted: bool  # rowids ascend with position: the first matches in row order are the first by rowid


_db: Any = None
_tables: dict[int, TypedTable] = {}  # id(Arrow table) -> its typed table; entries leave when it is freed
_unused: list[str] = []  # DuckDB tables whose Arrow table was freed: dropped at the next creation
_tables_lock = threading.Lock()
_names = itertools.count()


def _database() -> Any:
    global _db
    if _db is None:
        import duckdb

        _db = duckdb.connect()
    return _db


def _cursor() -> Any:
    """This thread's cursor on the shared database (a cursor serves one thread at a time)."""
    cur = getattr(_local, "typed", None)
    if cur is None:
        with _tables_lock:
            cur = _local.typed = _database().cursor()
    return cur


def _forget(key: int, name: str) -> None:  # runs wherever the Arrow table is freed: no DuckDB call here
    _tables.pop(key, None)
    _unused.append(name)


def typed_table(seg) -> TypedTable:  # noqa: ANN001 - a snapshot Segment
    """The DuckDB table of a segment's typed metadata columns (stored with its blockfile, or
    derived from the long form), made once per Arrow table. DuckDB's ``rowid`` of a table made
    in one statement is the row's position in it."""
    table = seg.table
    entry = _tables.get(id(table))
    if entry is not None:
        return entry
    with _tables_lock:
        entry = _tables.get(id(table))
        if entry is not None:
            return entry
        columns, others = seg.typed if seg.typed is not None else typed_columns(table.column("metadata"))
        name = f"cf_typed_{next(_names)}"
        rids = np.asarray(table.column("rowid").to_numpy())
        names = {key: f"c{i}" for i, key in enumerate(columns)}
        arrow = pa.table({"rid": table.column("rowid"),
                          **{names[key]: column.values for key, column in columns.items()}})
        cur = _database().cursor()
        try:
            while _unused:
                cur.execute(f"DROP TABLE IF EXISTS {_unused.pop()}")
            cur.register("cf_source", arrow)
            cur.execute(f"CREATE TABLE {name} AS SELECT * FROM cf_source")
            cur.unregister("cf_source")
        finally:
            cur.close()
        entry = TypedTable(name, {key: (names[key], c.kind) for key, c in columns.items()}, others,
                           {key: (c.min, c.max) for key, c in columns.items() if c.min is not None},
                           int(rids.min()), bool((np.diff(rids) > 0).all()))
        _tables[id(table)] = entry
        weakref.finalize(table, _forget, id(table), name)
    return entry


def _candidates(snap, node: Node) -> Optional[list[tuple[Any, TypedTable]]]:  # noqa: ANN001
    """The segments whose statistics allow a match, with their typed tables; None when a key of
    the filter is not typed in some segment (or the filter reads the document)."""
    segments = [seg for seg in snap.segments if seg.table.num_rows]
    tables = [typed_table(seg) for seg in segments]
    if not all(typed_ok(node, t.columns, t.long_form) for t in tables):
        return None
    return [(seg, t) for seg, t in zip(segments, tables) if can_match(node, t.columns, t.bounds)]


def _select(seg, table: TypedTable, condition: str, limit: Optional[int] = None) -> Optional[str]:  # noqa: ANN001
    if condition == "false":
        return None
    sql = f"SELECT rowid + {int(seg.start)} AS pos FROM {table.name} WHERE {condition}"
    if limit is not None:  # the table's first matches by rowid (in row order when rowids ascend in it)
        sql += f"{'' if table.rid_sorted else ' ORDER BY rid'} LIMIT {int(limit)}"
    return sql


def typed_sql(snap, node: Node) -> Optional[tuple[str, list]]:  # noqa: ANN001
    """The statement selecting the positions ``pos`` of every row (live or not) matching ``node``,
    over the segments its statistics allow; None when the long form must answer."""
    candidates = _candidates(snap, node)
    if candidates is None:
        return None
    compiler = TypedCompiler()
    parts = [part for seg, t in candidates if (part := _select(seg, t, compiler.condition(node, t.columns)))]
    if not parts:
        return "SELECT 0::BIGINT AS pos WHERE false", []
    return " UNION ALL ".join(parts), compiler.params


def typed_matches(snap, node: Node, limit: Optional[int] = None) -> Optional[np.ndarray]:  # noqa: ANN001
    """Positions of the rows (live or not) matching ``node``, in no particular order; None when
    the long form must answer. With ``limit``: a subset holding the ``limit`` matches of smallest
    rowid, read segment by segment in order of their smallest rowid, each stopping at ``limit``
    matches, until no further segment can hold a smaller rowid."""
    cur = _cursor()
    if limit is None:
        statement = typed_sql(snap, node)
        if statement is None:
            return None
        with deadline(cur):
            return np.asarray(cur.execute(*statement).fetchnumpy()["pos"], dtype=np.int64)
    candidates = _candidates(snap, node)
    if candidates is None or limit == 0:
        return None if candidates is None else np.zeros(0, np.int64)
    rowids = snap.column_numpy("rowid")
    found: list[np.ndarray] = []
    count = 0
    with deadline(cur):
        for seg, t in sorted(candidates, key=lambda c: c[1].rid_min):
            if count >= limit and t.rid_min > np.partition(rowids[np.concatenate(found)], limit - 1)[limit - 1]:
                break
            compiler = TypedCompiler()
            sql = _select(seg, t, compiler.condition(node, t.columns), limit)
            if sql is not None:
                found.append(np.asarray(cur.execute(sql, compiler.params).fetchnumpy()["pos"], dtype=np.int64))
                count += len(found[-1])
    return np.concatenate(found) if found else np.zeros(0, np.int64)


def set_statement_timeout(seconds: Optional[float]) -> None:
    """Deadline of every statement in this process (``None``: back to the environment's)."""
    global _timeout_override
    _timeout_override = seconds


def statement_timeout() -> float:
    """Seconds a statement may run; 0 means no deadline."""
    if _timeout_override is not None:
        return max(0.0, _timeout_override)
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        return max(0.0, float(text))
    except ValueError:
        raise InternalError(f"{TIMEOUT_ENV} must be a number of seconds, got {text!r}") from None


@contextmanager
def deadline(con) -> Iterator[None]:  # noqa: ANN001 - a DuckDB connection
    """Interrupt ``con`` when the statement run inside outlives :func:`statement_timeout`.

    The interrupt becomes Chroma's ``InternalError`` naming the deadline. One watchdog thread
    serves every connection (no thread per statement).
    """
    import duckdb

    seconds = statement_timeout()
    if not seconds:
        yield
        return
    watch = _watchdog().watch(con, seconds)
    try:
        yield
    except duckdb.InterruptException:
        if not watch.fired:
            raise
        raise InternalError(
            f"The filter query was stopped: it ran longer than the {seconds:g} s deadline ({TIMEOUT_ENV})"
        ) from None
    finally:
        watch.done()


class _Watch:
    def __init__(self, con, due: float, lock: threading.Lock) -> None:  # noqa: ANN001
        self.con, self.due, self.fired, self.running, self._lock = con, due, False, True, lock

    def done(self) -> None:
        with self._lock:  # a late interrupt must not hit the connection's next statement
            self.running = False

    def fire(self) -> None:
        with self._lock:
            if self.running:
                self.fired = True
                self.con.interrupt()


class _Watchdog:
    """A daemon thread interrupting connections whose statement is past its due time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(threading.Lock())
        self._watches: list[_Watch] = []
        threading.Thread(target=self._run, name="chroma-frame-query-deadline", daemon=True).start()

    def watch(self, con, seconds: float) -> _Watch:  # noqa: ANN001
        import time

        item = _Watch(con, time.monotonic() + seconds, self._lock)
        with self._wake:
            self._watches.append(item)
            self._wake.notify()
        return item

    def _run(self) -> None:
        import time

        while True:
            with self._wake:
                self._watches = [w for w in self._watches if w.running]
                now = time.monotonic()
                due = [w for w in self._watches if w.due <= now]
                if not due:
                    next_due = min((w.due for w in self._watches), default=None)
                    self._wake.wait(None if next_due is None else next_due - now)
                    continue
            for w in due:
                w.fire()


_dog: Optional[_Watchdog] = None
_dog_lock = threading.Lock()


def _watchdog() -> _Watchdog:
    global _dog
    if _dog is None:
        with _dog_lock:
            if _dog is None:
                _dog = _Watchdog()
    return _dog
