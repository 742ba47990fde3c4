"""File access through ``pyarrow.fs``, with the durable-write discipline on top.

Every byte chroma-frame writes goes through :class:`Storage`: a pyarrow filesystem plus a root
folder. Local disks get real ``fsync`` calls; an object store (later) gets atomic puts, where a
completed upload is already durable.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs


@dataclass(frozen=True)
class Storage:
    """A pyarrow filesystem rooted at ``root``; paths given to methods are relative to it."""

    fs: pafs.FileSystem
    root: str
    durable: bool = True

    @classmethod
    def local(cls, path: str, *, durable: bool = True) -> "Storage":
        root = os.path.abspath(os.fspath(path))
        fs = pafs.LocalFileSystem(use_mmap=True)  # blockfiles are read memory-mapped
        fs.create_dir(root, recursive=True)
        return cls(fs, root, durable)

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, rel: str) -> str:
        return f"{self.root}/{rel}" if rel else self.root

    # -- reading -------------------------------------------------------------------------
    def read_bytes(self, rel: str) -> bytes:
        with self.fs.open_input_stream(self.path(rel)) as f:
            return f.read()

    def open_input(self, rel: str) -> pa.NativeFile:
        return self.fs.open_input_file(self.path(rel))

    def exists(self, rel: str) -> bool:
        return self.fs.get_file_info(self.path(rel)).type != pafs.FileType.NotFound

    def list_names(self, rel_dir: str) -> list[str]:
        """Names of the entries directly inside ``rel_dir`` (empty when it does not exist)."""
        infos = self.fs.get_file_info(pafs.FileSelector(self.path(rel_dir), allow_not_found=True))
        return [info.base_name for info in infos]

    # -- writing -------------------------------------------------------------------------
    def makedirs(self, rel_dir: str) -> None:
        self.fs.create_dir(self.path(rel_dir), recursive=True)

    def write_atomic(self, rel: str, data: bytes | pa.Buffer) -> None:
        """Write a whole file so that readers see either nothing or all of it, durably.

        Write a temporary sibling, fsync it, rename it into place, fsync the folder.
        """
        target = self.path(rel)
        tmp = f"{target}.{uuid.uuid4().hex}.tmp"
        with self.fs.open_output_stream(tmp) as out:
            out.write(data)
        self.publish(tmp, target)

    def publish(self, tmp_abs: str, target_abs: str) -> None:
        """fsync a finished temporary file, then rename it to its final name (atomic on POSIX)."""
        self._fsync(tmp_abs)
        self.fs.move(tmp_abs, target_abs)
        self._fsync(os.path.dirname(target_abs))

    def temp_path(self, rel: str) -> str:
        return f"{self.path(rel)}.{uuid.uuid4().hex}.tmp"

    def delete_file(self, rel: str) -> None:
        try:
            self.fs.delete_file(self.path(rel))
        except FileNotFoundError:
            pass

    def delete_dir(self, rel_dir: str) -> None:
        try:
            self.fs.delete_dir(self.path(rel_dir))
        except FileNotFoundError:
            pass

    def _fsync(self, abs_path: str) -> None:
        if not (self.durable and self.is_local):
            return
        fd = os.open(abs_path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
