"""Postings files beside their blockfile: ``blocks/<uuid>.sparse.<key hash>.arrow``.

Arrow IPC files followed by a 16-byte seal (length, CRC-32C: :mod:`chroma_frame.storage.integrity`;
another Arrow reader reads the file without its last 16 bytes), written atomically and durably,
memory-mapped when read: the seal is checked over the mapped bytes, then Arrow reads the payload
in place (zero copy). A damaged file raises CorruptPostings and is rebuilt. The file name carries
a hash of the key (keys are arbitrary strings); the key itself is in the schema metadata and is
checked on load. A blockfile's postings are removed with it (the store deletes every file of a
block's uuid that the manifest no longer lists).
"""

from __future__ import annotations

import hashlib

import pyarrow as pa

from chroma_frame.sparse.postings import CorruptPostings, Postings
from chroma_frame.storage.fs import Storage
from chroma_frame.storage.integrity import SEAL, SEAL_MAGIC, CorruptFileError, unseal
from chroma_frame.storage.sink import ChecksumSink


def postings_path(block_rel: str, key: str) -> str:
    """``blocks/<uuid>.arrow`` -> ``blocks/<uuid>.sparse.<sha256(key)[:16]>.arrow``."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return block_rel.rsplit(".", 1)[0] + f".sparse.{digest}.arrow"


def save_postings(storage: Storage, prefix: str, block_rel: str, key: str, postings: Postings) -> None:
    table = postings.to_table(key)
    rel = f"{prefix}/{postings_path(block_rel, key)}"
    with storage.atomic_output(rel) as out:
        sink = ChecksumSink(out)
        with pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table, max_chunksize=max(table.num_rows, 1))  # one batch: zero-copy arrays on load
        out.write(SEAL.pack(sink.size, sink.crc32c, SEAL_MAGIC))


def load_postings(storage: Storage, prefix: str, block_rel: str, key: str, *, n_rows: int) -> Postings | None:
    """The stored postings, None when there is no file; raises CorruptPostings."""
    rel = f"{prefix}/{postings_path(block_rel, key)}"
    try:
        source = storage.open_input(rel)
    except FileNotFoundError:
        return None
    try:
        payload = unseal(source.read_buffer(), storage.path(rel))  # a memory map: no copy
        table = pa.ipc.open_file(pa.BufferReader(payload)).read_all()
        table.validate(full=True)  # linear in the postings, as is loading them
    except CorruptFileError as exc:
        raise CorruptPostings(str(exc)) from exc
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise CorruptPostings(f"unreadable postings file {storage.path(rel)}: {exc}") from exc
    return Postings.from_table(table, key=key, n_rows=n_rows)


def delete_postings(storage: Storage, prefix: str, block_rel: str, key: str) -> None:
    storage.delete_file(f"{prefix}/{postings_path(block_rel, key)}")
