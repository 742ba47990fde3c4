"""Blockfiles: compacted rows of a collection as Arrow IPC files, named by the manifest.

Arrow IPC (the Feather v2 file format), uncompressed, so that opening a collection memory-maps its
blockfiles instead of decoding them: embeddings are searched straight from the page cache.
Polars reads them with ``pl.read_ipc``, DuckDB through ``pyarrow``.
"""

from __future__ import annotations

import uuid

import pyarrow as pa

from chroma_frame.storage.fs import Storage

BLOCK_DIR = "blocks"
SUFFIX = ".arrow"


def write_blockfile(storage: Storage, prefix: str, rows: pa.Table) -> str:
    """Write ``rows`` durably as a new blockfile; returns its path relative to ``prefix``."""
    storage.makedirs(f"{prefix}/{BLOCK_DIR}")
    rel = f"{BLOCK_DIR}/{uuid.uuid4().hex}{SUFFIX}"
    tmp = storage.temp_path(f"{prefix}/{rel}")
    with storage.fs.open_output_stream(tmp) as sink, pa.ipc.new_file(sink, rows.schema) as writer:
        writer.write_table(rows, max_chunksize=64 * 1024)
    storage.publish(tmp, storage.path(f"{prefix}/{rel}"))
    return rel


def read_blockfile(storage: Storage, prefix: str, rel: str) -> pa.Table:
    """The blockfile's rows, memory-mapped where the filesystem allows it (zero copy)."""
    source = storage.open_input(f"{prefix}/{rel}")
    return pa.ipc.open_file(source).read_all()
