"""``Collection.search``: Chroma's Search API over one snapshot of a collection.

Per search, top to bottom (Chroma's distributed executor, ``rust/worker/src/execution``):

1. parse: text queries embedded, then the payload's wire round trip (``plan.plan_search``);
2. filter: ``where`` -> candidate positions (``filter``);
3. knn: each ``Knn`` -> its nearest candidates (``knn``);
4. rank: the expression over those records, sorted by (score, insertion order) (``rank``);
   without a rank the filtered records keep insertion order and the score is the position;
5. group by, then ``offset`` / ``limit``;
6. select: the chosen fields, in Chroma's ``SearchResponse`` shape (``select``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from chroma_frame.engine.snapshot import Snapshot
from chroma_frame.execution.executor.filter import filter_positions
from chroma_frame.execution.executor.group import group_records
from chroma_frame.execution.executor.inputs import (
    ReadLevel,
    as_searches,
    check_read_level,
    embed_text_queries,
    text_embedder,
)
from chroma_frame.execution.executor.knn import KnnContext, run_knns
from chroma_frame.execution.executor.payload import SearchPlan, plan_search
from chroma_frame.execution.executor.rank import evaluate, total_order_key
from chroma_frame.execution.executor.select import select_columns
from chroma_frame.interop.results import SearchResult
from chroma_frame.storage.records import decode_metadata

if TYPE_CHECKING:
    from chroma_frame.embedder import Embedder
    from chroma_frame.engine.collection import CollectionEngine

COLUMNS = ("ids", "documents", "embeddings", "metadatas", "scores")


def run_search(engine: "CollectionEngine", embedder: "Embedder", searches: Any,
               read_level: Any = ReadLevel.INDEX_AND_WAL) -> SearchResult:
    """Run ``searches`` (one ``Search`` or a list) on one snapshot of ``engine``'s collection
    (text queries embedded by ``embedder``); one result per search."""
    check_read_level(read_level)
    embed = text_embedder(embedder)
    plans = [plan_search(embed_text_queries(s, embed)) for s in as_searches(searches)]
    ctx = KnnContext(engine, engine.snapshot())
    return combine([execute(ctx, plan) for plan in plans], plans)


def execute(ctx: KnnContext, plan: SearchPlan) -> dict[str, Any]:
    """One search's columns."""
    snap = ctx.snap
    candidates = filter_positions(snap, plan.where)
    page = slice(plan.offset, None if plan.limit is None else plan.offset + plan.limit)
    if plan.rank is None:
        positions = _insertion_order(snap, candidates)[page]
        scores = np.arange(len(positions), dtype=np.float32)  # Chroma: the position on the page
    else:
        positions, scores = evaluate(plan.rank, plan.knns, run_knns(ctx, plan.knns, candidates))
        positions, scores = _by_score(snap, positions, scores)
        if plan.group is not None and len(positions):
            metadatas = decode_metadata(snap.rows(positions, ["metadata"]).column("metadata"))
            kept = group_records(plan.group, metadatas, scores)
            positions, scores = positions[kept], scores[kept]
        positions, scores = positions[page], scores[page]
    return select_columns(snap, positions, scores, plan.select)


def combine(results: list[dict[str, Any]], plans: list[SearchPlan]) -> SearchResult:
    """Per-search columns -> Chroma's batch-major ``SearchResult``."""
    out: dict[str, Any] = {name: [r[name] for r in results] for name in COLUMNS}
    out["select"] = [list(plan.select) for plan in plans]
    return SearchResult(out)


def _insertion_order(snap: Snapshot, candidates: Optional[np.ndarray]) -> np.ndarray:
    """Live positions (all, or the candidates) in insertion order, as Chroma's offset ids."""
    ordered = snap.live_positions
    if candidates is None:
        return ordered
    admitted = np.zeros(len(snap.live), dtype=bool)
    admitted[candidates] = True
    return ordered[admitted[ordered]]


def _by_score(snap: Snapshot, positions: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ascending score (``total_cmp``), ties in insertion order."""
    if len(positions) == 0:
        return positions, scores
    rowids = snap.column_numpy("rowid")[positions]
    order = np.lexsort((rowids, total_order_key(scores)))
    return positions[order], scores[order]


__all__ = ["ReadLevel", "SearchResult", "run_search"]
