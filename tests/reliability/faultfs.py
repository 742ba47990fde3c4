"""A ``pyarrow.fs`` filesystem over the local disk that fails on purpose.

:class:`FaultHandler` delegates every call to ``LocalFileSystem`` and, on the n-th call that
matches an armed :class:`Fault` (an operation and a regular expression searched in the path),
raises the OSError a failing disk would:

| op        | where                                                   | kinds                          |
| --------- | ------------------------------------------------------- | ------------------------------ |
| `write`   | a write to an output stream (path: the temporary file)  | enospc, edquot, eio, short     |
| `open`    | creating an output stream                               | enospc, edquot, eio            |
| `fsync`   | fsync of a written file before its rename               | eio, enospc                    |
| `move`    | the rename or hard link of a temporary file into place (path: the source) | eio, enospc  |
| `dirsync` | fsync of the folder after a rename (path: the file renamed into it) | eio                |
| `read`    | opening a file to read                                  | eio                            |

``short`` writes the first half of the data, then raises ENOSPC, as a disk that fills up
mid-write does. :func:`faulty_client` runs the real client over it (``Storage.local`` picks the
wrapper up through :func:`chroma_frame.storage.fs.wrap_local_filesystem`).
"""

from __future__ import annotations

import errno
import os
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Optional

import pyarrow as pa
import pyarrow.fs as pafs

import chroma_frame
from chroma_frame.config import Settings
from chroma_frame.storage.fs import fsync_path, wrap_local_filesystem

CODES = {"enospc": errno.ENOSPC, "edquot": errno.EDQUOT, "eio": errno.EIO, "short": errno.ENOSPC}
OPS = ("write", "open", "fsync", "move", "dirsync", "read")


@dataclass
class Fault:
    op: str
    pattern: str
    kind: str = "eio"
    nth: int = 1  # the first matching call that fails
    times: Optional[int] = 1  # how many matching calls fail from there (None: all, until cleared)
    seen: int = 0
    fired: int = 0

    def hit(self, op: str, path: str) -> bool:
        if op != self.op or not re.search(self.pattern, path):
            return False
        self.seen += 1
        if self.seen < self.nth or (self.times is not None and self.fired >= self.times):
            return False
        self.fired += 1
        return True


class FaultHandler(pafs.FileSystemHandler):
    """Local filesystem with armed faults; ``is_local`` and ``fsync`` make chroma-frame treat it
    as the local disk it wraps (real fsyncs, through :meth:`fsync`)."""

    is_local = True

    def __init__(self, local: Optional[pafs.FileSystem] = None) -> None:
        self.local = local or pafs.LocalFileSystem(use_mmap=True)
        self.faults: list[Fault] = []
        self.injected: list[tuple[str, str, str]] = []  # (op, kind, path) of every fault raised
        self.calls = {op: 0 for op in OPS}
        self._moved_into: dict[str, str] = {}  # folder -> the last file renamed into it
        self._lock = threading.Lock()

    # -- arming ----------------------------------------------------------------------------
    def inject(self, op: str, pattern: str = "", kind: str = "eio", *, nth: int = 1,
               times: Optional[int] = 1) -> Fault:
        assert op in OPS and kind in CODES, (op, kind)
        fault = Fault(op, pattern, kind, nth, times)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def _check(self, op: str, path: str) -> Optional[Fault]:
        with self._lock:
            self.calls[op] += 1
            for fault in self.faults:
                if fault.hit(op, path):
                    self.injected.append((op, fault.kind, path))
                    return fault
        return None

    def _maybe_fail(self, op: str, path: str) -> None:
        fault = self._check(op, path)
        if fault is not None:
            raise _oserror(fault.kind, path)

    # -- durability (called by chroma_frame.storage.fs.Storage) ----------------------------
    def fsync(self, path: str) -> None:
        if os.path.isdir(path):
            self._maybe_fail("dirsync", self._moved_into.get(path, path))
        else:
            self._maybe_fail("fsync", path)
        fsync_path(path)

    # -- FileSystemHandler -----------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    def get_type_name(self) -> str:
        return "faulty-local"

    def normalize_path(self, path: str) -> str:
        return self.local.normalize_path(path)

    def get_file_info(self, paths):
        return self.local.get_file_info(paths)

    def get_file_info_selector(self, selector):
        return self.local.get_file_info(selector)

    def create_dir(self, path: str, recursive: bool) -> None:
        self._maybe_fail("open", path)
        self.local.create_dir(path, recursive=recursive)

    def delete_dir(self, path: str) -> None:
        self.local.delete_dir(path)

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        self.local.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self) -> None:
        raise OSError(errno.EPERM, "refusing to empty the root folder")

    def delete_file(self, path: str) -> None:
        self.local.delete_file(path)

    def move(self, src: str, dest: str) -> None:
        self._maybe_fail("move", src)
        self.local.move(src, dest)
        self._moved_into[os.path.dirname(dest)] = dest

    def link(self, src: str, dest: str) -> None:
        """``Storage.create_output``'s publication: a hard link that fails when ``dest`` exists."""
        self._maybe_fail("move", src)
        os.link(src, dest)
        self._moved_into[os.path.dirname(dest)] = dest

    def copy_file(self, src: str, dest: str) -> None:
        self.local.copy_file(src, dest)

    def open_input_stream(self, path: str):
        self._maybe_fail("read", path)
        return self.local.open_input_stream(path)

    def open_input_file(self, path: str):
        self._maybe_fail("read", path)
        return self.local.open_input_file(path)

    def open_output_stream(self, path: str, metadata=None):
        self._maybe_fail("open", path)
        return pa.PythonFile(_FaultyStream(self, self.local.open_output_stream(path), path), mode="w")

    def open_append_stream(self, path: str, metadata=None):
        self._maybe_fail("open", path)
        return pa.PythonFile(_FaultyStream(self, self.local.open_append_stream(path), path), mode="w")


class _FaultyStream:
    """The file object behind an output stream: each ``write`` may fail (after a partial write)."""

    def __init__(self, handler: FaultHandler, inner: pa.NativeFile, path: str) -> None:
        self.handler, self.inner, self.path = handler, inner, path

    @property
    def closed(self) -> bool:
        return self.inner.closed

    def write(self, data) -> int:
        fault = self.handler._check("write", self.path)
        if fault is not None:
            if fault.kind == "short":
                buf = pa.py_buffer(data)
                self.inner.write(buf.slice(0, buf.size // 2))
                self.inner.flush()
            raise _oserror(fault.kind, self.path)
        return self.inner.write(data)

    def tell(self) -> int:
        return self.inner.tell()

    def flush(self) -> None:
        self.inner.flush()

    def close(self) -> None:
        self.inner.close()

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False


def _oserror(kind: str, path: str) -> OSError:
    code = CODES[kind]
    return OSError(code, os.strerror(code), path)


@contextmanager
def faulty_storage(path: str, handler: FaultHandler) -> Iterator[FaultHandler]:
    """Within the block, chroma-frame opens ``path`` through ``handler``."""
    def wrap(local: pafs.FileSystem) -> pafs.FileSystem:
        handler.local = local
        return pafs.PyFileSystem(handler)

    with wrap_local_filesystem(path, wrap):
        yield handler


def faulty_client(path: str, handler: FaultHandler, **settings) -> "chroma_frame.ClientAPI":
    """A PersistentClient on ``path`` whose every file access goes through ``handler``.

    Clients share one System per path for the life of the process (or until
    ``Client.clear_system_cache()``), so the first client made on a path decides its filesystem.
    """
    with faulty_storage(path, handler):
        return chroma_frame.PersistentClient(path, settings=Settings(**settings))


def fresh_client(path: str, **settings) -> "chroma_frame.ClientAPI":
    """A client that reads ``path`` from disk again, as a new process would (no cached state)."""
    chroma_frame.Client.clear_system_cache()
    return chroma_frame.PersistentClient(path, settings=Settings(**settings))


def tmp_files(root: str) -> list[str]:
    """Every ``*.tmp`` file under ``root``."""
    return [os.path.join(d, n) for d, _, names in os.walk(root) for n in names if n.endswith(".tmp")]
