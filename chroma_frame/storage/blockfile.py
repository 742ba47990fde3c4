"""Blockfiles: compacted rows of a collection as Arrow IPC files, named by the manifest.

Arrow IPC (the Feather v2 file format), uncompressed, so that opening a collection memory-maps its
blockfiles instead of decoding them: embeddings are searched straight from the page cache.
Polars reads them with ``pl.read_ipc``, DuckDB through ``pyarrow``.
"""

from __future__ import annotations

import uuid
from typing import Iterable

import pyarrow as pa

from chroma_frame.storage.fs import Storage

BLOCK_DIR = "blocks"
SUFFIX = ".arrow"
BATCH_ROWS = 64 * 1024


def write_blockfile(storage: Storage, prefix: str, rows: pa.Table | Iterable[pa.Table],
                    schema: pa.Schema | None = None) -> str:
    """Write ``rows`` (a table, or tables of ``schema`` one after the other) durably as a new
    blockfile, in record batches of 64k rows; returns its path relative to ``prefix``."""
    if isinstance(rows, pa.Table):
        rows, schema = [rows], rows.schema
    storage.makedirs(f"{prefix}/{BLOCK_DIR}")
    rel = f"{BLOCK_DIR}/{uuid.uuid4().hex}{SUFFIX}"
    tmp = storage.temp_path(f"{prefix}/{rel}")
    with storage.fs.open_output_stream(tmp) as sink, pa.ipc.new_file(sink, schema) as writer:
        pending, size = [], 0
        for part in rows:  # re-batched to 64k rows, so that a blockfile's batches are as if written whole
            pending.append(part)
            size += part.num_rows
            while size >= BATCH_ROWS:
                table = pa.concat_tables(pending)
                writer.write_table(table.slice(0, BATCH_ROWS).combine_chunks(), max_chunksize=BATCH_ROWS)
                rest = table.slice(BATCH_ROWS)
                pending, size = [rest], rest.num_rows
        if size or not writer.stats.num_record_batches:
            writer.write_table(pa.concat_tables(pending).combine_chunks() if pending else schema.empty_table(),
                               max_chunksize=BATCH_ROWS)
    storage.publish(tmp, storage.path(f"{prefix}/{rel}"))
    return rel


def read_blockfile(storage: Storage, prefix: str, rel: str) -> pa.Table:
    """The blockfile's rows, memory-mapped where the filesystem allows it (zero copy)."""
    source = storage.open_input(f"{prefix}/{rel}")
    return pa.ipc.open_file(source).read_all()
