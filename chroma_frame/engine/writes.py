"""After-images: what add / upsert / update / delete write to the log, given a fresh snapshot.

Chroma's record semantics live here and nowhere else: an ``add`` of an existing id is dropped,
an ``update`` of a missing id is dropped, ``update`` and ``upsert`` merge metadata key by key (a
``None`` value removes the key) and keep the document, uri and embedding they do not replace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pyarrow as pa

from chroma_frame.engine.snapshot import Snapshot
from chroma_frame.errors import InvalidArgumentError
from chroma_frame.storage.records import DELETE, PUT, build_rows, decode_metadata


@dataclass(frozen=True)
class Records:
    """Validated input rows (the fields a caller did not give are None)."""

    ids: list[str]
    embeddings: np.ndarray | None = None
    metadatas: list[dict | None] | None = None
    documents: list[str | None] | None = None
    uris: list[str | None] | None = None


def _check_dimension(snap: Snapshot, records: Records) -> int:
    if records.embeddings is None:
        if snap.dimension is None:
            raise InvalidArgumentError("Embeddings are required to add records to an empty collection")
        return snap.dimension
    got = int(records.embeddings.shape[1])
    if snap.dimension is not None and got != snap.dimension:
        raise InvalidArgumentError(f"Collection expecting embedding with dimension of {snap.dimension}, got {got}")
    return got


def _pick(values: Sequence[Any] | None, index: Sequence[int]) -> list[Any] | None:
    return None if values is None else [values[i] for i in index]


def plan_add(snap: Snapshot, seq: int, records: Records) -> pa.Table | None:
    dimension = _check_dimension(snap, records)
    existing = set(snap.table.column("id").take(pa.array(snap.positions_of(records.ids))).to_pylist()) if snap.table is not None else set()
    new = [i for i, id_ in enumerate(records.ids) if id_ not in existing]
    return _new_rows(snap, seq, records, new, dimension) if new else None


def _new_rows(snap: Snapshot, seq: int, records: Records, index: list[int], dimension: int) -> pa.Table:
    return build_rows(
        dimension=dimension,
        seqs=seq,
        rowids=range(snap.next_rowid, snap.next_rowid + len(index)),
        ops=PUT,
        ids=[records.ids[i] for i in index],
        documents=_pick(records.documents, index),
        uris=_pick(records.uris, index),
        metadatas=[_merge_metadata(None, m) for m in _pick(records.metadatas, index)] if records.metadatas is not None else None,
        embeddings=None if records.embeddings is None else records.embeddings[index],
    )


def _merge_metadata(old: dict | None, new: dict | None) -> dict | None:
    if new is None:
        return old
    merged = dict(old or {})
    for key, value in new.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged or None


def _merged_rows(snap: Snapshot, seq: int, records: Records, dimension: int) -> tuple[pa.Table | None, list[int]]:
    """After-images of the records whose id exists; returns them and the indexes of the others."""
    positions = snap.positions_of(records.ids)
    if len(positions) == 0:
        return None, list(range(len(records.ids)))
    old = snap.rows(positions)
    old_ids = old.column("id").to_pylist()
    where = {id_: i for i, id_ in enumerate(old_ids)}
    old_docs = old.column("document").to_pylist()
    old_uris = old.column("uri").to_pylist()
    old_meta = decode_metadata(old.column("metadata"))
    old_emb = snap.embeddings(positions)
    hits = [i for i, id_ in enumerate(records.ids) if id_ in where]
    missing = [i for i, id_ in enumerate(records.ids) if id_ not in where]
    docs, uris, metas, rowids = [], [], [], []
    embeddings = np.empty((len(hits), dimension), dtype=np.float32)
    rowid_col = old.column("rowid").to_pylist()
    for n, i in enumerate(hits):
        j = where[records.ids[i]]
        new_doc = records.documents[i] if records.documents is not None else None
        new_uri = records.uris[i] if records.uris is not None else None
        docs.append(old_docs[j] if new_doc is None else new_doc)
        uris.append(old_uris[j] if new_uri is None else new_uri)
        metas.append(_merge_metadata(old_meta[j], records.metadatas[i] if records.metadatas is not None else None))
        embeddings[n] = old_emb[j] if records.embeddings is None else records.embeddings[i]
        rowids.append(rowid_col[j])
    rows = build_rows(
        dimension=dimension, seqs=seq, rowids=rowids, ops=PUT, ids=[records.ids[i] for i in hits],
        documents=docs, uris=uris, metadatas=metas, embeddings=embeddings,
    )
    return rows, missing


def plan_update(snap: Snapshot, seq: int, records: Records) -> pa.Table | None:
    if snap.table is None:
        return None
    rows, _ = _merged_rows(snap, seq, records, _check_dimension(snap, records))
    return rows


def plan_upsert(snap: Snapshot, seq: int, records: Records) -> pa.Table | None:
    dimension = _check_dimension(snap, records)
    merged, missing = _merged_rows(snap, seq, records, dimension) if snap.table is not None else (None, list(range(len(records.ids))))
    if missing and records.embeddings is None:
        raise InvalidArgumentError("Embeddings are required to insert new records")
    parts = [t for t in (merged, _new_rows(snap, seq, records, missing, dimension) if missing else None) if t is not None]
    return pa.concat_tables(parts) if parts else None


def plan_delete(snap: Snapshot, seq: int, positions: np.ndarray) -> pa.Table | None:
    if len(positions) == 0 or snap.dimension is None:
        return None
    old = snap.rows(positions)
    return build_rows(
        dimension=snap.dimension, seqs=seq, rowids=old.column("rowid").to_pylist(), ops=DELETE,
        ids=old.column("id").to_pylist(),
    )
