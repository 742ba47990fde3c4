"""Blockfiles: compacted rows of a collection as Arrow IPC files, named by the manifest.

Arrow IPC (the Feather v2 file format), uncompressed, so that opening a collection memory-maps its
blockfiles instead of decoding them: embeddings are searched straight from the page cache.
Polars reads them with ``pl.read_ipc``, DuckDB through ``pyarrow``.

A blockfile stays a plain Arrow file; its size and CRC-32C, computed while it is written, go into
the manifest (:class:`~chroma_frame.storage.manifest.BlockRef`), and :func:`read_blockfile`
checks them over the memory-mapped bytes before Arrow reads a byte of it.
"""

from __future__ import annotations

import uuid
from typing import Iterable

import pyarrow as pa

from chroma_frame.storage.fs import Storage
from chroma_frame.storage.integrity import CorruptFileError, crc32c, remember_verified, verified_before
from chroma_frame.storage.manifest import BlockRef
from chroma_frame.storage.records import check_record_table, dimension_of
from chroma_frame.storage.sink import ChecksumSink

BLOCK_DIR = "blocks"
SUFFIX = ".arrow"
BATCH_ROWS = 1 << 20  # a blockfile is one record batch, so its embeddings are one zero-copy matrix
BATCH_VAR_BYTES = 1 << 30  # ... unless its strings pass 1 GiB (Arrow's 32-bit offsets end at 2 GiB)


def write_blockfile(storage: Storage, prefix: str, rows: pa.Table | Iterable[pa.Table],
                    schema: pa.Schema | None = None, stem: str | None = None) -> BlockRef:
    """Write ``rows`` (a table, or tables of ``schema`` one after the other) durably as a new
    blockfile, in record batches of 64k rows; returns its path relative to ``prefix``, with the
    row count, size and CRC-32C the manifest records. ``stem``: its name (a bulk job's, so that
    a retried task replaces its own file), else a fresh one."""
    if isinstance(rows, pa.Table):
        schema = rows.schema
        rows = [rows]
    if schema is None:
        raise TypeError("write_blockfile: tables given one after the other need their schema")
    storage.makedirs(f"{prefix}/{BLOCK_DIR}")
    rel = f"{BLOCK_DIR}/{stem or uuid.uuid4().hex}{SUFFIX}"
    total = 0
    with storage.atomic_output(f"{prefix}/{rel}") as out:
        sink = ChecksumSink(out)
        with pa.ipc.new_file(sink, schema) as writer:
            pending, size, var_bytes = [], 0, 0
            for part in rows:  # re-batched, so that a blockfile's batches are as if written whole
                pending.append(part)
                size += part.num_rows
                total += part.num_rows
                var_bytes += _string_bytes(part)
                while size >= BATCH_ROWS or (var_bytes >= BATCH_VAR_BYTES and len(pending) > 1):
                    table = pa.concat_tables(pending)
                    take = min(BATCH_ROWS, size) if size >= BATCH_ROWS else size - pending[-1].num_rows
                    writer.write_table(table.slice(0, take).combine_chunks(), max_chunksize=BATCH_ROWS)
                    rest = table.slice(take)
                    pending, size, var_bytes = [rest], rest.num_rows, _string_bytes(rest)
            if size or not writer.stats.num_record_batches:
                writer.write_table(pa.concat_tables(pending).combine_chunks() if pending else schema.empty_table(),
                                   max_chunksize=BATCH_ROWS)
    return BlockRef(rel, rows=total, size=sink.size, crc32c=sink.crc32c, dimension=dimension_of(schema))


def _string_bytes(table: pa.Table) -> int:
    return sum(column.nbytes for column in table.columns
               if pa.types.is_string(column.type) or pa.types.is_binary(column.type))


def read_blockfile(storage: Storage, prefix: str, rel: str, *, recheck: bool = False) -> pa.Table:
    """The blockfile's rows, memory-mapped where the filesystem allows it (zero copy).

    When ``rel`` is a :class:`BlockRef` from a manifest, its size and CRC-32C are checked before
    Arrow parses the file, and its schema, dimension and row count after; a blockfile listed by
    an old manifest (no checksum) is validated in full instead. The CRC-32C reads the whole file,
    so a pass is remembered (:func:`~chroma_frame.storage.integrity.verified_before`): later opens
    of the unchanged file skip it, unless ``recheck`` (the doctor: checks in full, writes nothing).
    Raises CorruptFileError.
    """
    path = storage.path(f"{prefix}/{rel}")
    ref = rel if isinstance(rel, BlockRef) else BlockRef(rel)
    source = storage.open_input(f"{prefix}/{rel}")  # not closed: the table's buffers map it
    size = source.size()
    if ref.size is not None and size != ref.size:
        raise CorruptFileError(path, f"{size} bytes, the manifest says {ref.size}")
    data = source.read_buffer()  # a memory map: no copy
    if ref.crc32c is not None:
        expected = f"{ref.crc32c:08x}"
        if recheck or not verified_before(storage, f"{prefix}/{rel}", expected):
            actual = crc32c(data)
            if actual != ref.crc32c:
                raise CorruptFileError(path, f"checksum mismatch (crc32c {actual:08x}, the manifest says {expected})")
            if not recheck:
                remember_verified(storage, f"{prefix}/{rel}", expected)
    try:
        table = pa.ipc.open_file(pa.BufferReader(data)).read_all()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise CorruptFileError(path, f"not a readable Arrow file ({exc})") from None
    # bytes that passed the checksum are the ones written: a structural check suffices for them
    reason = check_record_table(table, ref.dimension, full=not ref.checked)
    if reason is None and ref.rows is not None and table.num_rows != ref.rows:
        reason = f"{table.num_rows} rows, the manifest says {ref.rows}"
    if reason is not None:
        raise CorruptFileError(path, reason)
    return table
