"""The write-ahead log of a collection: one Arrow IPC stream file per acknowledged write.

``log/<seq>.arrow`` holds one record batch of after-images (see docs/internals.md): one commit,
whose number is the collection's version after it. A file is created once, whole, by a
create-if-absent write, so after a crash it is either whole or absent, and of two writers that
both try number ``seq`` exactly one succeeds (the other re-plans on the newer state). The
entry's schema metadata describes the commit (:class:`Commit`). Entries stay after compaction
folds them, as the collection's history, until vacuum removes them.

Each file is the Arrow stream followed by a 16-byte seal (length, CRC-32C; see
:mod:`chroma_frame.storage.integrity`): Arrow readers stop at the stream's end marker and ignore
it, :meth:`Log.read` checks it before parsing. Entries without a seal were written by an older
chroma-frame; they are read only in a collection whose manifest predates format 2, so that a
damaged seal cannot pass an entry off as an old one.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Optional

import pyarrow as pa

from chroma_frame.storage import manifest as manifests
from chroma_frame.storage.fs import Storage
from chroma_frame.storage.integrity import SEAL, SEAL_MAGIC, SEAL_SIZE, CorruptFileError, is_sealed, unseal
from chroma_frame.storage.records import check_record_table, dimension_of
from chroma_frame.storage.sink import ChecksumSink

LOG_DIR = "log"
SUFFIX = ".arrow"
COMMIT_KEY = b"chroma_frame.commit"


@dataclass(frozen=True)
class Commit:
    """What one log entry did: when, which operation, the record count after it, for a
    ``restore`` the version whose state it brings back, and for a bulk write from several
    machines (``chroma_frame.ray``) the blockfiles it ``attach``-es: they join the state before
    the entry's own rows, which go after them."""

    operation: str
    records: Optional[int] = None
    time: Optional[float] = None
    restore_to: Optional[int] = None
    attach: tuple[manifests.BlockRef, ...] = ()

    def to_metadata(self) -> dict[bytes, bytes]:
        doc: dict[str, Any] = {"operation": self.operation, "records": self.records,
                               "time": self.time if self.time is not None else time.time()}
        if self.restore_to is not None:
            doc["restore_to"] = self.restore_to
        if self.attach:
            doc["attach"] = [ref.to_json() for ref in self.attach]
        return {COMMIT_KEY: json.dumps(doc).encode()}

    @classmethod
    def from_schema(cls, schema: pa.Schema) -> "Commit":
        raw = (schema.metadata or {}).get(COMMIT_KEY)
        if raw is None:  # written before commits were described
            return cls("write")
        doc = json.loads(raw)
        restore_to = doc.get("restore_to")
        attach = tuple(manifests.block_ref(entry, dimension_of(schema)) for entry in doc.get("attach", ()))
        if any(not ref.checked for ref in attach):
            raise ValueError("an attached blockfile without its size and checksum")
        return cls(str(doc.get("operation", "write")), doc.get("records"), doc.get("time"),
                   int(restore_to) if restore_to is not None else None, attach)


def log_name(seq: int) -> str:
    return f"{seq:020d}{SUFFIX}"


class Log:
    def __init__(self, storage: Storage, prefix: str) -> None:
        self.storage = storage
        self.prefix = prefix
        self.dir = f"{prefix}/{LOG_DIR}"  # made with the collection: never here (it may be deleted)

    def sequences(self, after: int = 0) -> list[int]:
        """Sequence numbers of the complete log files above ``after``, ascending (a listing that
        starts after ``after``: on S3 its cost follows what is new, not the history kept)."""
        seqs = []
        for name in self.storage.list_names_after(self.dir, log_name(after)):
            if name.endswith(SUFFIX) and name[: -len(SUFFIX)].isdigit():
                seq = int(name[: -len(SUFFIX)])
                if seq > after:
                    seqs.append(seq)
        return sorted(seqs)

    def has(self, seq: int) -> bool:
        """Whether entry ``seq`` is there: one stat, where :meth:`sequences` lists the folder."""
        return self.storage.exists(f"{self.dir}/{log_name(seq)}")

    def append(self, seq: int, rows: pa.Table, commit: Optional[Commit] = None) -> bool:
        """Durably create log entry ``seq`` holding ``rows``: True once it is on disk, False when
        entry ``seq`` exists already (another writer committed first: nothing was written)."""
        rel = f"{self.dir}/{log_name(seq)}"
        if commit is not None:
            rows = rows.replace_schema_metadata({**(rows.schema.metadata or {}), **commit.to_metadata()})
        # streamed to its file: no second copy in memory
        with self.storage.create_output(rel) as created:
            sink = ChecksumSink(created.stream)
            with pa.ipc.new_stream(sink, rows.schema) as writer:
                writer.write_table(rows)
            created.stream.write(SEAL.pack(sink.size, sink.crc32c, SEAL_MAGIC))
        return created.done

    def commit(self, seq: int) -> Commit:
        """What entry ``seq`` did, from its schema alone (the rows are not read)."""
        with self.storage.open_input(f"{self.dir}/{log_name(seq)}") as f:
            try:
                schema = pa.ipc.open_stream(f).schema
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise CorruptFileError(self.storage.path(f"{self.dir}/{log_name(seq)}"),
                                       f"not a readable Arrow stream ({exc})") from None
        return _commit_of(schema, self.storage.path(f"{self.dir}/{log_name(seq)}"))

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
        _commit_of(table.schema, path)
        return table

    def remove(self, seqs: list[int]) -> None:
        """Delete entries ``seqs`` (history that vacuum let go)."""
        for seq in seqs:
            self.storage.delete_file(f"{self.dir}/{log_name(seq)}")


def _commit_of(schema: pa.Schema, path: str) -> Commit:
    try:
        return Commit.from_schema(schema)
    except (ValueError, TypeError, KeyError) as exc:
        raise CorruptFileError(path, f"unreadable commit description ({exc})") from None
