"""Chroma's result shapes: ``GetResult`` and ``QueryResult`` dicts built from snapshot rows
(as :class:`~chroma_frame.interop.results.FramedGetResult` / ``FramedQueryResult``, which convert to frames)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from chroma_frame.engine.snapshot import Snapshot, decode_rows, result_columns
from chroma_frame.interop.results import FramedGetResult, FramedQueryResult


def get_result(snap: Snapshot, positions: np.ndarray, include: Sequence[str]) -> dict[str, Any]:
    if snap.table is None or len(positions) == 0:
        fields: dict[str, Any] = {"ids": []}
        for name in ("documents", "uris", "metadatas"):
            if name in include:
                fields[name] = []
        emb = np.zeros((0, snap.dimension or 0), np.float32) if "embeddings" in include else None
    else:
        fields = decode_rows(snap.rows(positions, result_columns(include)), include)
        emb = snap.embeddings(positions) if "embeddings" in include else None
    return FramedGetResult({
        "ids": fields["ids"],
        "embeddings": emb,
        "documents": fields.get("documents"),
        "uris": fields.get("uris"),
        "included": list(include),
        "data": None,
        "metadatas": fields.get("metadatas"),
    })


def query_result(
    snap: Snapshot, positions: list[np.ndarray], dists: list[np.ndarray], include: Sequence[str]
) -> dict[str, Any]:
    per_query = [get_result(snap, p, include) for p in positions]
    out: dict[str, Any] = {
        "ids": [r["ids"] for r in per_query],
        "embeddings": [r["embeddings"] for r in per_query] if "embeddings" in include else None,
        "documents": [r["documents"] for r in per_query] if "documents" in include else None,
        "uris": [r["uris"] for r in per_query] if "uris" in include else None,
        "data": None,
        "metadatas": [r["metadatas"] for r in per_query] if "metadatas" in include else None,
        "distances": [[float(x) for x in d] for d in dists] if "distances" in include else None,
        "included": list(include),
    }
    return FramedQueryResult(out)
