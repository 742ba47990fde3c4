"""A write-through stream that keeps the CRC-32C and size of what passes through it."""

from __future__ import annotations

import google_crc32c
import numpy as np
import pyarrow as pa


class ChecksumSink:
    """File-like sink for Arrow's IPC writers: forwards every write to ``out`` (zero copy) and
    extends a CRC-32C over it, so a file's checksum is known when its last byte is written."""

    def __init__(self, out: pa.NativeFile) -> None:
        self.out = out
        self.crc32c = 0
        self.size = 0
        self.closed = False

    def write(self, data) -> int:  # noqa: ANN001 - bytes or any buffer Arrow hands over
        view = np.frombuffer(data, dtype=np.uint8)
        self.crc32c = google_crc32c.extend(self.crc32c, view)
        self.size += len(view)
        self.out.write(data)
        return len(view)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        pass

    def close(self) -> None:  # the owner of ``out`` closes it
        self.closed = True
