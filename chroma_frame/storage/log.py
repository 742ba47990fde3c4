"""The write-ahead log of a collection: one Arrow IPC stream file per acknowledged write.

``log/<seq>.arrow`` holds one record batch of after-images (see docs/internals.md). A file is
written to a temporary name, fsynced and renamed, so after a crash it is either whole or absent;
temporary leftovers are ignored by readers and removed by the next writer.

Each file is the Arrow stream followed by a 16-byte seal (length, CRC-32C; see
:mod:`chroma_frame.storage.integrity`): Arrow readers stop at the stream's end marker and ignore
it, :meth:`Log.read` checks it before parsing. Entries without a seal were written by an older
chroma-frame; they are read only in a collection whose manifest predates format 2, so that a
damaged seal cannot pass an entry off as an old one.
"""

from __future__ import annotations

import pyarrow as pa

from chroma_frame.storage import manifest as manifests
from chroma_frame.storage.fs import Storage
from chroma_frame.storage.integrity import SEAL, SEAL_MAGIC, SEAL_SIZE, CorruptFileError, is_sealed, unseal
from chroma_frame.storage.records import check_record_table
from chroma_frame.storage.sink import ChecksumSink

LOG_DIR = "log"
SUFFIX = ".arrow"


def log_name(seq: int) -> str:
    return f"{seq:020d}{SUFFIX}"


class Log:
    def __init__(self, storage: Storage, prefix: str) -> None:
        self.storage = storage
        self.prefix = prefix
        self.dir = f"{prefix}/{LOG_DIR}"  # made with the collection: never here (it may be deleted)

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
        if seq == 1 and not manifests.exists(self.storage, self.prefix):
            # a new collection: its manifest says from the start that every entry is sealed
            manifests.write_manifest(self.storage, self.prefix, manifests.Manifest())
        rel = f"{self.dir}/{log_name(seq)}"
        # streamed to its file: no second copy in memory
        with self.storage.atomic_output(rel) as out:
            sink = ChecksumSink(out)
            with pa.ipc.new_stream(sink, rows.schema) as writer:
                writer.write_table(rows)
            out.write(SEAL.pack(sink.size, sink.crc32c, SEAL_MAGIC))

    def mapped(self, seq: int) -> pa.Table:
        """Entry ``seq`` as just appended, its buffers memory-mapped from the file (zero copy;
        on object storage, read): a bulk write's log tail then costs page cache, not heap. Not
        checked: this process wrote it."""
        with self.storage.open_input(f"{self.dir}/{log_name(seq)}") as f:
            data = f.read_buffer(f.size() - SEAL_SIZE)
        return pa.ipc.open_stream(data).read_all()

    def read(self, seq: int) -> pa.Table:
        """Entry ``seq``, checked (seal, Arrow structure, schema); raises CorruptFileError."""
        rel = f"{self.dir}/{log_name(seq)}"
        path = self.storage.path(rel)
        data = self.storage.read_bytes(rel)
        dimension = None
        if is_sealed(data):
            data = unseal(data, path)
        else:
            manifest = manifests.read_manifest(self.storage, self.prefix)
            if manifest.format >= 2 and manifests.exists(self.storage, self.prefix):
                raise CorruptFileError(path, "no checksum trailer (truncated or damaged)")
            dimension = manifest.dimension
        try:
            table = pa.ipc.open_stream(data).read_all()
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise CorruptFileError(path, f"not a readable Arrow stream ({exc})") from None
        reason = check_record_table(table, dimension, full=True)  # entries are small: check every offset
        if reason is not None:
            raise CorruptFileError(path, reason)
        return table

    def remove_through(self, seq: int) -> None:
        """Delete entries up to ``seq`` (already folded into blockfiles) and stale temporaries."""
        for name in self.storage.list_names(self.dir):
            stem = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else ""
            if (stem.isdigit() and int(stem) <= seq) or name.endswith(".tmp"):
                self.storage.delete_file(f"{self.dir}/{name}")
