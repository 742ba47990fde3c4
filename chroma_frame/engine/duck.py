"""DuckDB: runs compiled filters over a snapshot's ``records`` and ``metadata`` relations.

The relations are registered once per snapshot on each thread's connection (registering costs
milliseconds), and ``metadata`` holds only the keys the filter names.

Every statement has a deadline (DuckDB has no statement timeout: a watchdog thread interrupts
the connection): ``CHROMA_FRAME_QUERY_TIMEOUT`` seconds (default 60; ``0`` turns it off), or what
:func:`set_statement_timeout` set (the server sets its request deadline,
``CHROMA_FRAME_REQUEST_TIMEOUT``).
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Iterable, Iterator, Optional

import numpy as np

from chroma_frame.errors import InternalError

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
