"""The selected fields of the final records, in Chroma's ``SearchResponse`` shape.

``documents`` / ``embeddings`` / ``scores`` are None unless ``#document`` / ``#embedding`` /
``#score`` is selected. ``metadatas`` holds the whole metadata with ``#metadata``, else only the
selected metadata fields (a record left with none is None); the column is None when neither is
selected. Scores and embeddings are float32 values written as their shortest decimal, which is
what Chroma's server sends.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import orjson

from chroma_frame.engine.snapshot import Snapshot
from chroma_frame.execution.executor.payload import PREDEFINED
from chroma_frame.interop.results import decode, take_rows


def f32_list(values: np.ndarray) -> list:
    """float32 values as Python floats of their shortest decimal (NaN and inf as None)."""
    return orjson.loads(orjson.dumps(np.ascontiguousarray(values, dtype=np.float32), option=orjson.OPT_SERIALIZE_NUMPY))


def select_columns(snap: Snapshot, positions: np.ndarray, scores: np.ndarray,
                   select: Sequence[str]) -> dict[str, Any]:
    """``ids`` plus the five optional columns of one search's response."""
    wanted = set(select)
    fields = [name for name in select if name not in PREDEFINED]
    include = (["documents"] if "#document" in wanted else []) + (
        ["metadatas"] if fields or "#metadata" in wanted else [])
    decoded = decode(take_rows(snap, positions, include))
    out: dict[str, Any] = {"ids": decoded["ids"], "documents": decoded.get("documents")}
    out["embeddings"] = _embeddings(snap, positions) if "#embedding" in wanted else None
    out["metadatas"] = None
    if "metadatas" in decoded:
        out["metadatas"] = [_pick(m, None if "#metadata" in wanted else fields) for m in decoded["metadatas"]]
    out["scores"] = f32_list(scores) if "#score" in wanted else None
    return out


def _embeddings(snap: Snapshot, positions: np.ndarray) -> list:
    if len(positions) == 0:
        return []
    return f32_list(snap.embeddings(positions))


def _pick(metadata: Optional[dict], fields: Optional[list[str]]) -> Optional[dict]:
    if not metadata:
        return None
    if fields is None:
        return metadata
    picked = {k: metadata[k] for k in fields if k in metadata}
    return picked or None
