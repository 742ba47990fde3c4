"""The write-ahead log of a collection: one Arrow IPC stream file per acknowledged write.

``log/<seq>.arrow`` holds one record batch of after-images (see docs/internals.md). A file is
written to a temporary name, fsynced and renamed, so after a crash it is either whole or absent;
temporary leftovers are ignored by readers and removed by the next writer.
"""

from __future__ import annotations

import pyarrow as pa

from chroma_frame.storage.fs import Storage

LOG_DIR = "log"
SUFFIX = ".arrow"


def log_name(seq: int) -> str:
    return f"{seq:020d}{SUFFIX}"


class Log:
    def __init__(self, storage: Storage, prefix: str) -> None:
        self.storage = storage
        self.dir = f"{prefix}/{LOG_DIR}"
        storage.makedirs(self.dir)

    def sequences(self, after: int = 0) -> list[int]:
        """Sequence numbers of the complete log files above ``after``, ascending."""
        seqs = []
        for name in self.storage.list_names(self.dir):
            if name.endswith(SUFFIX) and name[: -len(SUFFIX)].isdigit():
                seq = int(name[: -len(SUFFIX)])
                if seq > after:
                    seqs.append(seq)
        return sorted(seqs)

    def has(self, seq: int) -> bool:
        """Whether entry ``seq`` is there: one stat, where :meth:`sequences` lists the folder."""
        return self.storage.exists(f"{self.dir}/{log_name(seq)}")

    def append(self, seq: int, rows: pa.Table) -> None:
        """Durably write ``rows`` as log entry ``seq``; returns once it is on disk."""
        rel = f"{self.dir}/{log_name(seq)}"
        tmp = self.storage.temp_path(rel)  # streamed to its file: no second copy in memory
        with self.storage.fs.open_output_stream(tmp) as sink, pa.ipc.new_stream(sink, rows.schema) as writer:
            writer.write_table(rows)
        self.storage.publish(tmp, self.storage.path(rel))

    def read(self, seq: int) -> pa.Table:
        buf = self.storage.read_bytes(f"{self.dir}/{log_name(seq)}")
        return pa.ipc.open_stream(buf).read_all()

    def remove_through(self, seq: int) -> None:
        """Delete entries up to ``seq`` (already folded into blockfiles) and stale temporaries."""
        for name in self.storage.list_names(self.dir):
            stem = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else ""
            if (stem.isdigit() and int(stem) <= seq) or name.endswith(".tmp"):
                self.storage.delete_file(f"{self.dir}/{name}")
