"""Inter-process locks: writers of one collection (and of the catalog) serialise through a file lock.

A lock is held only for the duration of one write, and waiting is bounded: a process that cannot
take the lock in ``timeout`` seconds gets an error instead of hanging. A killed holder releases its
lock with its file descriptors, so a crash never leaves a collection locked.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Iterator

from filelock import FileLock, Timeout

from chroma_frame.errors import InternalError

DEFAULT_TIMEOUT = float(os.environ.get("CHROMA_FRAME_LOCK_TIMEOUT", "120"))

_locks: dict[str, FileLock] = {}
_guard = threading.Lock()


def _file_lock(path: str) -> FileLock:
    with _guard:
        lock = _locks.get(path)
        if lock is None:
            lock = _locks[path] = FileLock(path)  # per-thread state: threads block each other too
        return lock


@contextmanager
def exclusive(path: str, timeout: float | None = None) -> Iterator[None]:
    """Hold the lock file at ``path`` (an absolute local path) for the body of the ``with``."""
    lock = _file_lock(path)
    wait = DEFAULT_TIMEOUT if timeout is None else timeout
    try:
        lock.acquire(timeout=wait)
    except Timeout:
        raise InternalError(f"Timed out after {wait:.0f}s waiting for the write lock {path}") from None
    try:
        yield
    finally:
        lock.release()
