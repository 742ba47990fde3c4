"""Collection: each verb is normalise -> validate -> embed -> engine call -> shape the result."""

from __future__ import annotations

import dataclasses
import functools
import uuid
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

import numpy as np

from chroma_frame import validation as v
from chroma_frame.embedder import Embedder
from chroma_frame.engine.collection import CollectionEngine, EngineConfig
from chroma_frame.engine.snapshot import Snapshot
from chroma_frame.engine.store import CollectionStore
from chroma_frame.engine.writes import Records, plan_add, plan_delete, plan_update, plan_upsert
from chroma_frame.errors import NotFoundError
from chroma_frame.filters import compile_filter, parse_filter
from chroma_frame.interop.frames import FrameMethods
from chroma_frame.results import get_result, query_result
from chroma_frame.schema.reconcile import schema_from_configuration, sparse_index
from chroma_frame.schema.sparse_write import SparseTarget, apply_sparse_embeddings

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
        self._embedder_cache: Optional[Embedder] = None
        self._config_cache: tuple[Any, Any, Optional[EngineConfig]] = (None, None, None)  # (configuration, schema, config)

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

    # -- the engine and the embedder this handle works through ----------------------------
    @property
    def _engine(self) -> CollectionEngine:
        """The engine facade of this collection under its current configuration and schema."""
        configuration, schema, config = self._config_cache
        if config is None or configuration is not self.configuration_json or schema is not self._model.get("serialized_schema"):
            configuration, schema = self.configuration_json, self._model.get("serialized_schema")
            found = sparse_index(schema) if schema is not None else None  # a derived schema never has one
            sparse = {} if found is None else {found[0]: bool(found[1].get("bm25"))}
            config = EngineConfig.from_configuration(configuration, sparse)
            self._config_cache = (configuration, schema, config)
        return CollectionEngine(self._client._system.store(self._model["id"]), config)

    @property
    def _embedder(self) -> Embedder:
        """Dense and sparse embedding for this collection (the sparse function built once per schema)."""
        schema = self._model.get("serialized_schema")
        cached = self._embedder_cache
        if cached is None or cached.schema is not schema or cached.embedding_function is not self._embedding_function:
            cached = self._embedder_cache = Embedder(self._embedding_function, schema)
        return cached

    @property
    def _space(self) -> str:
        return self._engine.config.space

    @property
    def _store(self) -> CollectionStore:
        return self._client._system.store(self._model["id"])

    def get_model(self) -> dict[str, Any]:
        try:
            dimension = self._engine.snapshot().dimension
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
            embedder = self._embedder
            if rs.embeddings is None and rs.documents is not None:
                rs = v.attach_embeddings(rs, embedder.dense(rs.documents))
            target = embedder.sparse_target
            if target is not None:
                rs = dataclasses.replace(rs, metadatas=apply_sparse_embeddings(target, rs.metadatas, rs.documents))
        engine = self._engine
        v.check_records_engine(rs, engine.snapshot().dimension)
        records = Records.from_lists(rs.ids, rs.embeddings, rs.metadatas, rs.documents, rs.uris)
        plan = _PLANS[op]
        engine.write(lambda snap, seq: plan(snap, seq, records))

    @_deleted_raises()
    def delete(self, ids=None, where=None, where_document=None, limit: Optional[int] = None) -> dict[str, int]:
        """Delete by ids and/or filters; returns ``{"deleted": n}``."""
        with v.validation_context("delete"):
            v.check_delete_args(ids, where, where_document, limit)
            ids = v.normalize_ids("delete", ids)
            node = parse_filter(where, where_document)
        compiled = compile_filter(node)
        deleted = 0
        engine = self._engine

        def plan(snap: Snapshot, seq: int):
            nonlocal deleted
            positions = engine.select(snap, ids, compiled)
            if limit is not None:
                positions = positions[:limit]
            deleted = len(positions)
            return plan_delete(snap, seq, positions)

        engine.write(plan)
        if ids is not None and compiled is None:
            deleted = len(ids)  # Chroma 1.5.9 counts the ids passed, found or not
        return {"deleted": deleted}

    # -- reads ---------------------------------------------------------------------------
    @_deleted_raises()
    def count(self, read_level: Any = None) -> int:
        """Number of records."""
        return self._engine.snapshot().count

    @_deleted_raises()
    def get(self, ids=None, where=None, limit: Optional[int] = None, offset: Optional[int] = None,
            where_document=None, include=None) -> dict[str, Any]:
        """Records by id and/or filter, in insertion order."""
        with v.validation_context("get"):
            ids = v.normalize_ids("get", ids)
            node = parse_filter(where, where_document)
            include = v.check_include(include, "get", has_data_loader=self._data_loader is not None)
        limit, offset = v.check_limit_offset(limit, offset, "get")
        engine = self._engine
        snap = engine.snapshot()
        positions = engine.select(snap, ids, compile_filter(node))
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
                embeddings = self._embedder.dense(inputs.documents, is_query=True)
        engine = self._engine
        snap = engine.snapshot()
        queries = v.check_query_engine(ids, embeddings, n_results, snap.dimension)
        compiled = compile_filter(node)
        candidates = None if ids is None and compiled is None else np.sort(engine.select(snap, ids, compiled))
        positions, dists = engine.knn(snap, queries, n_results, candidates)
        return query_result(snap, positions, dists, include)

    # -- collection ----------------------------------------------------------------------
    def modify(self, name: Optional[str] = None, metadata: Optional[dict[str, Any]] = None,
               configuration: Optional[dict[str, Any]] = None) -> None:
        """Rename, replace the metadata, or change search-time configuration."""
        self._model = self._client._modify_collection(self._model, name=name, metadata=metadata, configuration=configuration)

    def compact(self) -> None:
        """Fold the log into Parquet blockfiles now (it also happens by itself past a threshold)."""
        self._engine.compact()

    def index_status(self) -> dict[str, Any]:
        """How many records are searched through a graph, and how many exactly (log tail, new
        blockfiles); ``failed`` lists the graphs whose build failed (details in ``index.log`` of the
        collection's folder), which are scanned exactly and not retried automatically."""
        return self._engine.index_status()

    def wait_for_index(self, timeout: float = 600.0) -> bool:
        """Block until every large blockfile is searched through its graph (benchmarks, tests).

        True once they all are; False when ``timeout`` seconds pass first, or as soon as a graph's
        build has failed (it is not retried automatically: see ``index_status()["failed"]``)."""
        return self._engine.wait_for_index(timeout)

    def explain(self, where=None, where_document=None) -> str:
        """The DuckDB SQL a filter compiles to, with its bound parameters."""
        return CollectionEngine.explain(compile_filter(parse_filter(where, where_document)))

    def fork(self, new_name: str) -> "Collection":
        raise NotImplementedError("Collection forking is not implemented for Local Chroma")

    def search(self, searches: Any, read_level: Any = "index_and_wal") -> Any:
        """Chroma's Search API (``chroma_frame.execution.expression``): a ``SearchResult``."""
        from chroma_frame.execution.executor import run_search

        return run_search(self._engine, self._embedder, searches, read_level)

    def get_indexing_status(self) -> Any:
        raise NotImplementedError("Indexing status is not implemented for Local Chroma")

    # -- whitebox access for tests (the package itself goes through _engine / _embedder) -----
    def _sparse_target(self) -> Optional[SparseTarget]:
        return self._embedder.sparse_target

    def _sparse_config(self, key: str) -> Optional[dict[str, Any]]:
        return self._embedder.sparse_config(key)

    def _embed_sparse(self, key: str, texts: list[str], is_query: bool = False) -> list[dict]:
        return self._embedder.sparse(key, texts, is_query=is_query)

    def _embed(self, texts: list, is_query: bool = False) -> list:
        return self._embedder.dense(texts, is_query=is_query)
