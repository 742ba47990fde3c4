"""The write plan of one ingest batch: after-images, computed under the collection's write lock."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chroma_frame import validation as v
from chroma_frame.engine.snapshot import Snapshot
from chroma_frame.engine.writes import Records, plan_upsert
from chroma_frame.interop.batch import Batch
from chroma_frame.interop.columns import as_array
from chroma_frame.storage.records import PUT, decode_metadata, record_schema


def existing(snap: Snapshot, ids: pa.Array) -> np.ndarray:
    """Mask of ``ids`` that are live in ``snap``."""
    if snap.table is None or len(ids) == 0:
        return np.zeros(len(ids), bool)
    column = snap.table.column("id")
    hit = pc.is_in(column, value_set=ids).to_numpy(zero_copy_only=False) & snap.live
    positions = np.flatnonzero(hit)
    if len(positions) == 0:
        return np.zeros(len(ids), bool)
    live_ids = column.take(pa.array(positions))
    return pc.is_in(ids, value_set=as_array(live_ids)).to_numpy(zero_copy_only=False)


def new_rows(snap: Snapshot, seq: int, batch: Batch, rows: np.ndarray, dimension: int) -> pa.Table:
    """After-images of new records (the ``rows`` of the batch), rowids after the snapshot's."""
    n = len(rows)
    take = pa.array(rows, pa.int64())
    full = n == len(batch)
    matrix = batch.embeddings if full else batch.embeddings[rows]
    flat = pa.array(np.ascontiguousarray(matrix, dtype=np.float32).reshape(-1))

    def pick(array: pa.Array | None) -> pa.Array:
        if array is None:
            return pa.nulls(n, pa.string())
        return array if full else array.take(take)

    return pa.Table.from_arrays(
        [
            pa.array(np.full(n, seq, np.int64)),
            pa.array(np.arange(snap.next_rowid, snap.next_rowid + n, dtype=np.int64)),
            pa.array(np.full(n, PUT, np.int8)),
            pick(batch.ids),
            pick(batch.documents),
            pick(batch.uris),
            batch.metadata if full else batch.metadata.take(take),
            pa.FixedSizeListArray.from_arrays(flat, dimension),
        ],
        schema=record_schema(dimension),
    )


def plan_batch(batch: Batch, op: str, skip: np.ndarray, counts: dict) -> Callable[[Snapshot, int], pa.Table | None]:
    """The write plan of one batch (runs under the collection's write lock)."""

    def plan(snap: Snapshot, seq: int) -> pa.Table | None:
        dimension = int(batch.embeddings.shape[1])
        v.check_dimensions(batch.embeddings, snap.dimension)
        there = existing(snap, batch.ids)
        parts = []
        counts["skipped"] = int((there | skip).sum()) if op == "add" else 0
        counts["written"] = 0
        if op == "upsert" and there.any():
            rows = np.flatnonzero(there)
            take = pa.array(rows)
            records = Records(
                ids=batch.ids.take(take).to_pylist(),
                embeddings=batch.embeddings[rows],
                metadatas=decode_metadata(batch.metadata.take(take)),
                documents=None if batch.documents is None else batch.documents.take(take).to_pylist(),
                uris=None if batch.uris is None else batch.uris.take(take).to_pylist(),
            )
            merged = plan_upsert(snap, seq, records)
            if merged is not None:
                parts.append(merged)
                counts["written"] += merged.num_rows
        fresh = np.flatnonzero(~there & ~skip)
        if len(fresh):
            parts.append(new_rows(snap, seq, batch, fresh, dimension))
            counts["written"] += len(fresh)
        if not parts:
            return None
        return pa.concat_tables(parts) if len(parts) > 1 else parts[0]

    return plan
