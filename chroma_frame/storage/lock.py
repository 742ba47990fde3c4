"""Inter-process locks: writers of one collection (and of the catalog) serialise through a file lock.

A lock is held only for the duration of one write, and waiting is bounded: a process that cannot
take the lock in ``timeout`` seconds gets an error instead of hanging. A killed holder releases its
lock with its file descriptors, so a crash never leaves a collection locked.

A lock never creates its folder: taking the lock of a collection whose folder is gone (deleted)
raises ``FileNotFoundError``, and so does a lock whose file was moved away while we waited for it
(a deletion renames the collection's folder under its lock), so a holder always knows the lock
file it holds is still the one at ``path``.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from chroma_frame.errors import InternalError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: filelock's portable lock (it creates folders)
    fcntl = None  # type: ignore[assignment]

DEFAULT_TIMEOUT = float(os.environ.get("CHROMA_FRAME_LOCK_TIMEOUT", "120"))
_POLL_MIN, _POLL_MAX = 0.001, 0.05  # seconds between attempts on a lock another process holds


class _PathLock:
    """One lock file as seen by this process: threads queue on a mutex (no polling), the thread
    that holds it takes the file lock; re-entrant for the holding thread."""

    def __init__(self) -> None:
        self.mutex = threading.Lock()
        self.owner: int | None = None
        self.depth = 0


_locks: dict[str, _PathLock] = {}
_guard = threading.Lock()


def _path_lock(path: str) -> _PathLock:
    with _guard:
        lock = _locks.get(path)
        if lock is None:
            lock = _locks[path] = _PathLock()
        return lock


def _timed_out(path: str, wait: float) -> InternalError:
    return InternalError(f"Timed out after {wait:.0f}s waiting for the write lock {path}")


@contextmanager
def exclusive(path: str, timeout: float | None = None) -> Iterator[None]:
    """Hold the lock file at ``path`` (an absolute local path) for the body of the ``with``.

    Raises ``FileNotFoundError`` when the folder of ``path`` does not exist or the file was moved
    away before we got it; ``InternalError`` after ``timeout`` seconds of waiting.
    """
    wait = DEFAULT_TIMEOUT if timeout is None else timeout
    if fcntl is None:  # pragma: no cover
        with _portable(path, wait):
            yield
        return
    lock = _path_lock(path)
    me = threading.get_ident()
    if lock.owner == me:
        lock.depth += 1
        try:
            yield
        finally:
            lock.depth -= 1
        return
    deadline = time.monotonic() + wait
    if not lock.mutex.acquire(timeout=max(wait, 0.0)):
        raise _timed_out(path, wait)
    try:
        fd = _lock_file(path, deadline, wait)
        lock.owner, lock.depth = me, 1
        try:
            yield
        finally:
            lock.owner, lock.depth = None, 0
            os.close(fd)  # releases the flock
    finally:
        lock.mutex.release()


def _lock_file(path: str, deadline: float, wait: float) -> int:
    """An open descriptor of ``path`` holding its flock, still linked at ``path``."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # no O_CREAT of folders: FileNotFoundError
    try:
        pause = _POLL_MIN
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _timed_out(path, wait) from None
                time.sleep(pause)
                pause = min(pause * 2, _POLL_MAX)
        held = os.fstat(fd)
        try:
            now = os.stat(path)
        except FileNotFoundError:
            now = None
        if now is None or (now.st_ino, now.st_dev) != (held.st_ino, held.st_dev):
            raise FileNotFoundError(f"{path} was removed while waiting for its lock")
        return fd
    except BaseException:
        os.close(fd)
        raise


@contextmanager
def _portable(path: str, wait: float) -> Iterator[None]:  # pragma: no cover - not POSIX
    from filelock import FileLock, Timeout

    if not os.path.isdir(os.path.dirname(path)):
        raise FileNotFoundError(path)
    lock = FileLock(path)
    try:
        lock.acquire(timeout=wait)
    except Timeout:
        raise _timed_out(path, wait) from None
    try:
        yield
    finally:
        lock.release()
