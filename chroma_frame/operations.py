"""Executing a prepared request (``chroma_frame.prepare``) on a collection's engine.

One function per verb, for every surface that holds a ``CollectionEngine`` (``Collection`` and the
server): the engine-side checks that need the collection's state (Chroma's Rust core: no suffix),
the engine calls, and Chroma's result shapes (``chroma_frame.results``).

A collection deleted before or during the call raises ``NotFoundError`` with the message Chroma
1.5.9 gives for that verb: ``"Error getting collection: "`` before ``"Collection [<id>] does not
exist."`` for writes and queries, nothing before it for get, delete and count.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from chroma_frame import validation as v
from chroma_frame.engine.collection import CollectionEngine
from chroma_frame.engine.snapshot import Snapshot
from chroma_frame.engine.writes import Records, plan_add, plan_delete, plan_update, plan_upsert
from chroma_frame.errors import InternalError, NotFoundError
from chroma_frame.filters import compile_filter
from chroma_frame.prepare import DeleteRequest, GetRequest, QueryRequest, WriteRequest
from chroma_frame.results import get_result, query_result

_PLANS = {"add": plan_add, "upsert": plan_upsert, "update": plan_update}
_GETTING = "Error getting collection: "  # Chroma's prefix on add / upsert / update / query


class _Gone:
    """Inside it, the collection's deletion raises Chroma's ``NotFoundError`` for the verb: the
    store's own (a prefix added), or one for a file that moved away with a deleted collection."""

    __slots__ = ("engine", "prefix")

    def __init__(self, engine: CollectionEngine, prefix: str = "") -> None:
        self.engine = engine
        self.prefix = prefix

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Optional[type[BaseException]], exc: Optional[BaseException], tb: Any) -> None:
        prefix = self.prefix
        if isinstance(exc, NotFoundError):
            if prefix and not str(exc).startswith(prefix):
                raise NotFoundError(f"{prefix}{exc}") from None
        elif isinstance(exc, OSError):  # a missing folder, a failed write: a deletion?
            store = self.engine.store
            if not store.storage.exists(store.prefix):
                raise NotFoundError(f"{prefix}Collection [{store.collection_id}] does not exist.") from None


def gone_as_not_found(engine: CollectionEngine) -> _Gone:
    """A block in which the collection's deletion raises Chroma's ``NotFoundError``."""
    return _Gone(engine)


def run_write(engine: CollectionEngine, request: WriteRequest) -> None:
    """add / upsert / update: the engine's record checks, then one logged write of after-images."""
    with _Gone(engine, _GETTING):
        v.check_records_engine(request, engine.snapshot().dimension)
        records = Records.from_lists(request.ids, request.embeddings, request.metadatas, request.documents,
                                     request.uris)
        plan = _PLANS[request.op]
        engine.write(lambda snap, seq: plan(snap, seq, records), operation=request.op)


def run_delete(engine: CollectionEngine, request: DeleteRequest) -> dict[str, int]:
    """delete: ``{"deleted": n}``; ids alone count as passed, found or not (as Chroma 1.5.9 does)."""
    with _Gone(engine):
        compiled = compile_filter(request.filter)
        deleted = 0

        def plan(snap: Snapshot, seq: int) -> Any:
            nonlocal deleted
            positions = engine.select(snap, request.ids, compiled)
            if request.limit is not None:
                positions = positions[:request.limit]
            deleted = len(positions)
            return plan_delete(snap, seq, positions)

        engine.write(plan, operation="delete")
    if request.ids is not None and compiled is None:
        deleted = len(request.ids)
    return {"deleted": deleted}


def count(engine: CollectionEngine) -> int:
    """The number of live records."""
    with _Gone(engine):
        return engine.snapshot().count


def run_get(engine: CollectionEngine, request: GetRequest) -> dict[str, Any]:
    """get: matching records in insertion order, ``offset`` and ``limit`` applied."""
    with _Gone(engine):
        snap = engine.snapshot()
        stop: Optional[int] = None if request.limit is None else request.offset + request.limit
        positions = engine.select(snap, request.ids, compile_filter(request.filter), stop)
        return get_result(snap, positions[request.offset:stop], request.include)


def _check_ids_found(ids: list[str], found: Any) -> None:
    """Chroma's contract (pinned in its tests): a query whose only filter is ``ids``, on a
    collection ever written to, fails when one of them is not a live record."""
    if len(found) < len(set(ids)):
        raise InternalError("Error executing plan: Internal error: Error finding id")


def run_query(engine: CollectionEngine, request: QueryRequest) -> dict[str, Any]:
    """query: the engine's query checks, then the ``n_results`` nearest per query, closest first."""
    with _Gone(engine, _GETTING):
        snap = engine.snapshot()
        queries = v.check_query_engine(request.ids, request.embeddings, request.n_results, snap.dimension)
        compiled = compile_filter(request.filter)
        ids = request.ids
        candidates = None if ids is None and compiled is None else np.sort(engine.select(snap, ids, compiled))
        if ids is not None and compiled is None and snap.dimension is not None:
            _check_ids_found(ids, candidates)
        positions, dists = engine.knn(snap, queries, request.n_results, candidates)
        return query_result(snap, positions, dists, request.include)
