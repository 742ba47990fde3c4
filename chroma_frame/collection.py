"""Collection: each verb is normalise -> validate -> embed -> engine call -> shape the result."""

from __future__ import annotations

import dataclasses
import functools
import uuid
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

import numpy as np

from chroma_frame import validation as v
from chroma_frame.embeddings.embed import embed
from chroma_frame.embeddings.protocol import NO_EMBEDDING_FUNCTION
from chroma_frame.engine import duck
from chroma_frame.engine.search import GraphSearch, search
from chroma_frame.engine.snapshot import Snapshot
from chroma_frame.engine.store import CollectionStore
from chroma_frame.engine.writes import Records, plan_add, plan_delete, plan_update, plan_upsert
from chroma_frame.errors import NotFoundError
from chroma_frame.filters import CompiledFilter, compile_filter, parse_filter
from chroma_frame.index.manager import kernels
from chroma_frame.index.params import IndexParams
from chroma_frame.interop.frames import FrameMethods
from chroma_frame.results import get_result, query_result
from chroma_frame.schema.reconcile import schema_from_configuration
from chroma_frame.schema.sparse_write import SparseTarget, apply_sparse_embeddings, embed_sparse, sparse_target

if TYPE_CHECKING:
    from chroma_frame.client import Client

_PLANS = {"add": plan_add, "upsert": plan_upsert, "update": plan_update}
F = TypeVar("F", bound=Callable[..., Any])


def _deleted_raises(prefix: str = "") -> Callable[[F], F]:
    """A verb on a collection deleted before or during the call raises NotFoundError, with the
    message Chroma 1.5.9 gives for that verb (``prefix`` + "Collection [<id>] does not exist.")."""

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def verb(self: "Collection", *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except NotFoundError as exc:
                if prefix and not str(exc).startswith(prefix):
                    raise NotFoundError(f"{prefix}{exc}") from None
                raise
            except OSError:  # a file moved away mid-call (a missing folder, a failed write): a deletion?
                if self._client._system.storage.exists(f"collections/{self._model['id']}"):
                    raise
                raise NotFoundError(f"{prefix}Collection [{self._model['id']}] does not exist.") from None

        return verb  # type: ignore[return-value]

    return decorate


class Collection(FrameMethods):
    """A named set of records (id, embedding, document, uri, metadata) in one database."""

    def __init__(self, client: "Client", model: dict[str, Any], embedding_function: Any = None, data_loader: Any = None) -> None:
        self._client = client
        self._model = model
        self._embedding_function = embedding_function
        self._data_loader = data_loader
        self._indexed_version: Optional[int] = None
        self._sparse: tuple[Any, Optional[SparseTarget]] = (None, None)  # (schema JSON it was built from, target)

    # -- properties ----------------------------------------------------------------------
    @property
    def id(self) -> uuid.UUID:
        return uuid.UUID(self._model["id"])

    @property
    def name(self) -> str:
        return self._model["name"]

    @property
    def metadata(self) -> Optional[dict[str, Any]]:
        return self._model.get("metadata")

    @property
    def configuration_json(self) -> dict[str, Any]:
        return self._model["configuration_json"]

    @property
    def configuration(self) -> dict[str, Any]:
        config = dict(self.configuration_json)
        config["embedding_function"] = self._embedding_function
        return config

    @property
    def schema(self) -> Any:
        """The collection's index schema (Chroma's ``Schema``; embedding functions rebuilt)."""
        from chroma_frame.schema.model import Schema

        return Schema.deserialize_from_json(self._schema_json)

    @property
    def _schema_json(self) -> dict[str, Any]:
        stored = self._model.get("serialized_schema")
        return stored if stored is not None else schema_from_configuration(self.configuration_json)

    @property
    def tenant(self) -> str:
        return self._model["tenant"]

    @property
    def database(self) -> str:
        return self._model["database"]

    @property
    def embedding_function(self) -> Any:
        return self._embedding_function

    @property
    def _space(self) -> str:
        hnsw = self.configuration_json.get("hnsw") or self.configuration_json.get("spann") or {}
        return hnsw.get("space", "l2")

    @property
    def _store(self) -> CollectionStore:
        return self._client._system.store(self._model["id"])

    def get_model(self) -> dict[str, Any]:
        try:
            dimension = self._store.snapshot().dimension
        except NotFoundError:  # deleted since this handle was made: its model is still what it was
            dimension = None
        return {**self._model, "dimension": dimension, "serialized_schema": self._schema_json}

    def __repr__(self) -> str:
        return f"Collection(name={self.name})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Collection):
            return NotImplemented
        return self._model == other._model and self._embedding_function == other._embedding_function

    # -- writes --------------------------------------------------------------------------
    def add(self, ids, embeddings=None, metadatas=None, documents=None, images=None, uris=None) -> None:
        """Add records; ids that already exist are ignored, as in Chroma."""
        self._write("add", ids, embeddings, metadatas, documents, images, uris)

    def upsert(self, ids, embeddings=None, metadatas=None, documents=None, images=None, uris=None) -> None:
        """Insert new ids, update existing ones (metadata merged key by key)."""
        self._write("upsert", ids, embeddings, metadatas, documents, images, uris)

    def update(self, ids, embeddings=None, metadatas=None, documents=None, images=None, uris=None) -> None:
        """Update existing ids (missing ids are ignored); a metadata value of None removes the key."""
        self._write("update", ids, embeddings, metadatas, documents, images, uris)

    @_deleted_raises("Error getting collection: ")
    def _write(self, op: str, ids, embeddings, metadatas, documents, images, uris) -> None:
        with v.validation_context(op):
            rs = v.normalize_records(op, ids, embeddings, metadatas, documents, images, uris)
            if rs.embeddings is None and rs.documents is not None:
                rs = v.attach_embeddings(rs, self._embed(rs.documents))
            target = self._sparse_target()
            if target is not None:
                rs = dataclasses.replace(rs, metadatas=apply_sparse_embeddings(target, rs.metadatas, rs.documents))
        v.check_records_engine(rs, self._store.snapshot().dimension)
        records = Records(ids=rs.ids, embeddings=rs.embeddings, metadatas=rs.metadatas,
                          documents=rs.documents, uris=rs.uris)
        plan = _PLANS[op]
        self._after_write(self._store.write(lambda snap, seq: plan(snap, seq, records)))

    def _after_write(self, snap: Snapshot) -> None:
        """Ask for graphs of new blockfiles (a compaction may have run)."""
        if snap.base and snap.manifest_version != self._indexed_version:
            self._indexed_version = snap.manifest_version
            params = self._index_params
            index = self._store.index
            if any(params.wants_graph(len(index.nodes(seg.name, seg.table))) for seg in snap.base):
                index.request_build(params, new_blockfiles=True)

    @_deleted_raises()
    def delete(self, ids=None, where=None, where_document=None, limit: Optional[int] = None) -> dict[str, int]:
        """Delete by ids and/or filters; returns ``{"deleted": n}``."""
        with v.validation_context("delete"):
            v.check_delete_args(ids, where, where_document, limit)
            ids = v.normalize_ids("delete", ids)
            node = parse_filter(where, where_document)
        compiled = compile_filter(node)
        deleted = 0

        def plan(snap: Snapshot, seq: int):
            nonlocal deleted
            positions = _select(snap, ids, compiled)
            if limit is not None:
                positions = positions[:limit]
            deleted = len(positions)
            return plan_delete(snap, seq, positions)

        self._after_write(self._store.write(plan))
        if ids is not None and compiled is None:
            deleted = len(ids)  # Chroma 1.5.9 counts the ids passed, found or not
        return {"deleted": deleted}

    # -- reads ---------------------------------------------------------------------------
    @_deleted_raises()
    def count(self, read_level: Any = None) -> int:
        """Number of records."""
        return self._store.snapshot().count

    @_deleted_raises()
    def get(self, ids=None, where=None, limit: Optional[int] = None, offset: Optional[int] = None,
            where_document=None, include=None) -> dict[str, Any]:
        """Records by id and/or filter, in insertion order."""
        with v.validation_context("get"):
            ids = v.normalize_ids("get", ids)
            node = parse_filter(where, where_document)
            include = v.check_include(include, "get", has_data_loader=self._data_loader is not None)
        limit, offset = v.check_limit_offset(limit, offset, "get")
        snap = self._store.snapshot()
        positions = _select(snap, ids, compile_filter(node))
        stop = None if limit is None else offset + limit
        positions = positions[offset:stop]
        return get_result(snap, positions, include)

    def peek(self, limit: int = 10) -> dict[str, Any]:
        """The first ``limit`` records, embeddings included."""
        limit, _ = v.check_limit_offset(limit, None, "peek")
        return self.get(limit=limit, include=["metadatas", "documents", "embeddings"])

    @_deleted_raises("Error getting collection: ")
    def query(self, query_embeddings=None, query_texts=None, query_images=None, query_uris=None, ids=None,
              n_results: int = 10, where=None, where_document=None, include=None) -> dict[str, Any]:
        """Nearest neighbours of each query, closest first."""
        with v.validation_context("query"):
            inputs = v.normalize_query(query_embeddings, query_texts, query_images, query_uris)
            ids = [ids] if isinstance(ids, str) else ids
            node = parse_filter(where, where_document)
            include = v.check_include(include, "query", has_data_loader=self._data_loader is not None)
            n_results = v.check_n_results(n_results)
            embeddings = inputs.embeddings
            if embeddings is None:
                v.check_query_embeddable(inputs)
                embeddings = self._embed(inputs.documents, is_query=True)
        snap = self._store.snapshot()
        queries = v.check_query_engine(ids, embeddings, n_results, snap.dimension)
        compiled = compile_filter(node)
        candidates = None if ids is None and compiled is None else np.sort(_select(snap, ids, compiled))
        if snap.dimension is None:
            positions = [np.zeros(0, np.int64) for _ in queries]
            dists = [np.zeros(0, np.float32) for _ in queries]
        else:
            graphs = self._graph_search(snap)
            positions, dists = search(snap, queries, n_results, self._space, candidates, graphs)
            if graphs is not None and graphs.kernels is None:
                kernels()  # start loading the graph search for the next queries
        return query_result(snap, positions, dists, include)

    # -- collection ----------------------------------------------------------------------
    def modify(self, name: Optional[str] = None, metadata: Optional[dict[str, Any]] = None,
               configuration: Optional[dict[str, Any]] = None) -> None:
        """Rename, replace the metadata, or change search-time configuration."""
        self._model = self._client._modify_collection(self, name=name, metadata=metadata, configuration=configuration)

    def compact(self) -> None:
        """Fold the log into Parquet blockfiles now (it also happens by itself past a threshold)."""
        self._after_write(self._store.compact())

    @property
    def _index_params(self) -> IndexParams:
        return IndexParams.from_configuration(self.configuration_json)

    def _graph_search(self, snap: Snapshot) -> Optional[GraphSearch]:
        params = self._index_params
        index = self._store.index
        if not any(params.wants_graph(len(index.nodes(seg.name, seg.table))) for seg in snap.base):
            return None
        dimension = snap.dimension

        def graph_of(seg):
            return None if seg.name is None else index.graph(seg.name, seg.table, dimension, params)

        return GraphSearch(graph_of, kernels(start=False), params.ef_search, params.epsilon)

    def index_status(self) -> dict[str, Any]:
        """How many records are searched through a graph, and how many exactly (log tail, new
        blockfiles); ``failed`` lists the graphs whose build failed (details in ``index.log`` of the
        collection's folder), which are scanned exactly and not retried automatically."""
        snap = self._store.snapshot()
        graphs = self._graph_search(snap)
        index, params = self._store.index, self._index_params
        indexed, failed = 0, []
        for seg in snap.base:
            if graphs is not None and graphs.kernels is not None and graphs.graph_of(seg) is not None:
                indexed += seg.table.num_rows
            elif params.wants_graph(len(index.nodes(seg.name, seg.table))):
                error = index.failure(seg.name, params.space)
                if error is not None:
                    failed.append({"blockfile": str(seg.name), "space": params.space, "error": error})
        total = sum(seg.table.num_rows for seg in snap.segments)
        return {"indexed_rows": indexed, "exact_rows": total - indexed, "kernels_ready": kernels() is not None,
                "failed": failed, "builders_started": index.builds_started}

    def wait_for_index(self, timeout: float = 600.0) -> bool:
        """Block until every large blockfile is searched through its graph (benchmarks, tests).

        True once they all are; False when ``timeout`` seconds pass first, or as soon as a graph's
        build has failed (it is not retried automatically: see ``index_status()["failed"]``)."""
        import time

        deadline = time.monotonic() + timeout
        index = self._store.index
        while True:
            snap = self._store.snapshot()
            params = self._index_params
            big = [seg for seg in snap.base if params.wants_graph(len(index.nodes(seg.name, seg.table)))]
            ready = kernels(wait=True, timeout=max(0.0, deadline - time.monotonic())) is not None or not big
            if ready and all(index.graph(seg.name, seg.table, snap.dimension, params) for seg in big):
                return True
            if any(index.failure(seg.name, params.space) for seg in big):
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            index.wait_for_builder(min(left, 1.0))
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    def explain(self, where=None, where_document=None) -> str:
        """The DuckDB SQL a filter compiles to, with its bound parameters."""
        compiled = compile_filter(parse_filter(where, where_document))
        if compiled is None:
            return "-- no filter: every record"
        params = "\n".join(f"-- ${i} = {p!r}" for i, p in enumerate(compiled.params, 1))
        return f"{duck.filter_sql(compiled.sql)}\n{params}".rstrip()

    def fork(self, new_name: str) -> "Collection":
        raise NotImplementedError("Collection forking is not implemented for Local Chroma")

    def search(self, searches: Any, read_level: Any = "index_and_wal") -> Any:
        """Chroma's Search API (``chroma_frame.execution.expression``): a ``SearchResult``."""
        from chroma_frame.search import run_search

        return run_search(self, searches, read_level)

    def get_indexing_status(self) -> Any:
        raise NotImplementedError("Indexing status is not implemented for Local Chroma")

    # -- embedding -----------------------------------------------------------------------
    def _sparse_target(self) -> Optional[SparseTarget]:
        """The schema's sparse index, its function built once per schema (None: no sparse index)."""
        stored = self._model.get("serialized_schema")
        if stored is None:  # a derived schema never has a sparse index
            return None
        if self._sparse[0] is not stored:
            self._sparse = (stored, sparse_target(stored))
        return self._sparse[1]

    def _sparse_config(self, key: str) -> Optional[dict[str, Any]]:
        """``{"bm25", "source_key", "embedding_function"}`` of the sparse index on ``key``, else None."""
        target = self._sparse_target()
        if target is None or target.key != key:
            return None
        return {"bm25": target.bm25, "source_key": target.source_key, "embedding_function": target.embedding_function}

    def _embed_sparse(self, key: str, texts: list[str], is_query: bool = False) -> list[dict]:
        """Sparse vectors (wire dicts) of ``texts`` with the function of the sparse index on ``key``."""
        config = self._sparse_config(key)
        if config is None:
            raise ValueError(
                f"Cannot embed string query for key '{key}': key not found in schema. Please provide an embedded "
                "vector or configure an embedding function for this key in the schema."
            )
        if config["embedding_function"] is None:
            raise ValueError(f"Cannot embed string query for key '{key}': the sparse index on it has no embedding function.")
        return embed_sparse(config["embedding_function"], texts, is_query=is_query)

    def _embed(self, texts: list, is_query: bool = False) -> list:
        ef = self._embedding_function
        if ef is None:
            raise ValueError(NO_EMBEDDING_FUNCTION)
        return embed(ef, texts, is_query=is_query)


def _select(snap: Snapshot, ids: Optional[list[str]], compiled: Optional[CompiledFilter]) -> np.ndarray:
    """Live positions matching ``ids`` and the filter, in insertion order."""
    ordered = snap.live_positions
    if len(ordered) == 0 or (ids is None and compiled is None):
        return ordered
    mask = np.zeros(len(snap.live), dtype=bool)
    mask[ordered] = True
    if ids is not None:
        hit = np.zeros(len(snap.live), dtype=bool)
        hit[snap.positions_of(ids)] = True
        mask &= hit
    if compiled is not None:
        rowids = duck.matching_rowids(snap, compiled.sql, compiled.params, compiled.keys)
        hit = np.zeros(len(snap.live), dtype=bool)
        hit[snap.positions_for_rowids(rowids)] = True
        mask &= hit
    return ordered[mask[ordered]]
