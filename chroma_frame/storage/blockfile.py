"""Blockfiles: compacted rows of a collection as Parquet files, named by the manifest."""

from __future__ import annotations

import uuid

import pyarrow as pa
import pyarrow.parquet as pq

from chroma_frame.storage.fs import Storage

BLOCK_DIR = "blocks"


def write_blockfile(storage: Storage, prefix: str, rows: pa.Table) -> str:
    """Write ``rows`` durably as a new Parquet blockfile; returns its path relative to ``prefix``."""
    storage.makedirs(f"{prefix}/{BLOCK_DIR}")
    rel = f"{BLOCK_DIR}/{uuid.uuid4().hex}.parquet"
    tmp = storage.temp_path(f"{prefix}/{rel}")
    # Embeddings do not compress; the rest (ids, documents, metadata) does.
    compression = {name: ("none" if name == "embedding" else "zstd") for name in rows.column_names}
    pq.write_table(rows, tmp, filesystem=storage.fs, compression=compression, row_group_size=64 * 1024)
    storage.publish(tmp, storage.path(f"{prefix}/{rel}"))
    return rel


def read_blockfile(storage: Storage, prefix: str, rel: str) -> pa.Table:
    return pq.read_table(storage.path(f"{prefix}/{rel}"), filesystem=storage.fs)
