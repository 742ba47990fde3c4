"""Numbered, immutable files: how commits are made without locks.

A series is a folder of files named ``<n:020d><suffix>``. Each is written once, whole, with a
create-if-absent write (:meth:`Storage.put_if_absent`: ``link(2)`` on a local disk, a conditional
put on S3), so two writers that both try to create number ``n`` cannot both succeed: the loser
learns it lost, re-reads and tries ``n + 1``. The newest number is the current state.

Finding the newest costs one existence check per number from the last one this process saw
(nothing new: one check); a process that has seen nothing lists the folder once.
"""

from __future__ import annotations

from typing import Optional

import pyarrow as pa

from chroma_frame.storage.fs import Storage

WIDTH = 20


class Series:
    def __init__(self, storage: Storage, folder: str, suffix: str) -> None:
        self.storage = storage
        self.folder = folder
        self.suffix = suffix

    def name(self, n: int) -> str:
        return f"{self.folder}/{n:0{WIDTH}d}{self.suffix}"

    def numbers(self, after: int = -1) -> list[int]:
        """Every number in the series above ``after``, ascending (one listing)."""
        found = []
        for entry in self.storage.list_names(self.folder):
            if entry.endswith(self.suffix):
                stem = entry[: -len(self.suffix)]
                if stem.isdigit() and len(stem) == WIDTH and int(stem) > after:
                    found.append(int(stem))
        return sorted(found)

    def has(self, n: int) -> bool:
        return self.storage.has_file(self.name(n))

    def latest(self, seen: Optional[int] = None) -> Optional[int]:
        """The newest number (None: the series is empty). ``seen``, a number this process saw
        exist, makes it a walk forward (one check when nothing is new) instead of a listing."""
        if seen is None or not self.has(seen):
            numbers = self.numbers()
            if not numbers:
                return None
            seen = numbers[-1]
        while self.has(seen + 1):
            seen += 1
        return seen

    def read(self, n: int) -> bytes:
        return self.storage.read_bytes(self.name(n))

    def create(self, n: int, data: bytes | pa.Buffer) -> bool:
        """Create number ``n``; False when it exists already (another writer took it)."""
        return self.storage.put_if_absent(self.name(n), data)


__all__ = ["Series", "WIDTH"]
