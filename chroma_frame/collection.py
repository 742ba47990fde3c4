"""Collection: each verb prepares a request (``chroma_frame.prepare``) and runs it on the
collection's engine (``chroma_frame.operations``)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Optional, Union

from chroma_frame import operations
from chroma_frame import validation as v
from chroma_frame.embedder import Embedder
from chroma_frame.engine.collection import CollectionEngine, EngineConfig, resolve_version
from chroma_frame.engine.store import CollectionStore
from chroma_frame.errors import NotFoundError
from chroma_frame.filters import compile_filter, parse_filter
from chroma_frame.interop.frames import FrameMethods
from chroma_frame.multimodal import with_data
from chroma_frame.prepare import prepare_delete, prepare_get, prepare_query, prepare_write
from chroma_frame.schema.reconcile import schema_from_configuration, sparse_index
from chroma_frame.schema.sparse_write import SparseTarget
from chroma_frame.types import IndexingStatus

if TYPE_CHECKING:
    from chroma_frame.api.types import (
        ID,
        URI,
        CollectionMetadata,
        DeleteResult,
        Document,
        Embedding,
        GetResult,
        IDs,
        Image,
        Include,
        Metadata,
        OneOrMany,
        PyEmbedding,
        QueryResult,
        Where,
        WhereDocument,
    )
    from chroma_frame.client import Client, System
    from chroma_frame.collection_model import CollectionModel
    from chroma_frame.execution.executor.inputs import ReadLevel
    from chroma_frame.execution.expression import Search
    from chroma_frame.interop.results import SearchResult


def engine_config(model: dict[str, Any]) -> EngineConfig:
    """What the engine needs from a collection model: its configuration and its schema's sparse index."""
    schema = model.get("serialized_schema")
    found = sparse_index(schema) if schema is not None else None  # a derived schema never has one
    sparse = {} if found is None else {found[0]: bool(found[1].get("bm25"))}
    return EngineConfig.from_configuration(model["configuration_json"], sparse)


def engine_for(system: "System", model: dict[str, Any], config: Optional[EngineConfig] = None) -> CollectionEngine:
    """The engine facade of the collection ``model`` describes (``config``: its ``engine_config``, if known)."""
    return CollectionEngine(system.store(model["id"]), config or engine_config(model))


EMBEDDED_FUNCTIONS_REFUSAL = (
    "Attached functions are only supported when connecting to a Chroma server via HttpClient. "
    "The Rust bindings (embedded mode) do not support attached function operations.")


class Collection(FrameMethods):
    """A named set of records (id, embedding, document, uri, metadata) in one database."""

    def __init__(self, client: Client, model: dict[str, Any], embedding_function: Any = None,
                 data_loader: Any = None) -> None:
        self._client = client
        self._record = model
        self._embedding_function = embedding_function
        self._data_loader = data_loader
        self._embedder_cache: Optional[Embedder] = None
        # (configuration, schema) -> EngineConfig, recomputed when either changes
        self._config_cache: tuple[Any, Any, Optional[EngineConfig]] = (None, None, None)

    # -- properties ----------------------------------------------------------------------
    @property
    def id(self) -> uuid.UUID:
        return uuid.UUID(self._record["id"])

    @property
    def name(self) -> str:
        return self._record["name"]

    @property
    def metadata(self) -> Optional[dict[str, Any]]:
        return self._record.get("metadata")

    @property
    def configuration_json(self) -> dict[str, Any]:
        return self._record["configuration_json"]

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
        stored = self._record.get("serialized_schema")
        return stored if stored is not None else schema_from_configuration(self.configuration_json)

    @property
    def tenant(self) -> str:
        return self._record["tenant"]

    @property
    def database(self) -> str:
        return self._record["database"]

    @property
    def embedding_function(self) -> Any:
        return self._embedding_function

    # -- the engine and the embedder this handle works through ----------------------------
    @property
    def _engine(self) -> CollectionEngine:
        """The engine facade of this collection under its current configuration and schema."""
        configuration, schema = self.configuration_json, self._record.get("serialized_schema")
        cached_configuration, cached_schema, config = self._config_cache
        if config is None or cached_configuration is not configuration or cached_schema is not schema:
            config = engine_config(self._record)
            self._config_cache = (configuration, schema, config)
        return engine_for(self._client._system, self._record, config)

    @property
    def _embedder(self) -> Embedder:
        """Dense and sparse embedding for this collection (the sparse function built once per schema)."""
        schema = self._record.get("serialized_schema")
        cached = self._embedder_cache
        if cached is None or cached.schema is not schema or cached.embedding_function is not self._embedding_function:
            cached = self._embedder_cache = Embedder(self._embedding_function, schema)
        return cached

    @property
    def _space(self) -> str:
        return self._engine.config.space

    @property
    def _store(self) -> CollectionStore:
        return self._client._system.store(self._record["id"])

    def get_model(self) -> CollectionModel:
        """Chroma's collection model, with the current dimension and version."""
        try:
            snap = self._engine.snapshot()
            dimension, version = snap.dimension, snap.last_seq
        except NotFoundError:  # deleted since this handle was made: its model is still what it was
            dimension, version = None, 0
        from chroma_frame.collection_model import CollectionModel

        return CollectionModel.from_record(self._record, dimension=dimension, serialized_schema=self._schema_json,
                                           version=version, log_position=version)

    @property
    def _model(self) -> CollectionModel:
        return self.get_model()

    def __repr__(self) -> str:
        return f"Collection(name={self.name})"

    def __eq__(self, other: object) -> bool:
        """Chroma's fields (id, name, configuration, schema, metadata, tenant, database) and data
        loader; not the embedding function object, so handles of one collection from
        ``get_collection`` and ``list_collections`` are equal."""
        if not isinstance(other, Collection):
            return NotImplemented
        return (self._record["id"], self.name, self.configuration_json, self._schema_json, self.metadata,
                self.tenant, self.database, self._data_loader) == \
            (other._record["id"], other.name, other.configuration_json, other._schema_json, other.metadata,
             other.tenant, other.database, other._data_loader)

    # -- writes --------------------------------------------------------------------------
    def add(self, ids: OneOrMany[ID],
            embeddings: Optional[Union[OneOrMany[Embedding], OneOrMany[PyEmbedding]]] = None,
            metadatas: Optional[OneOrMany[Metadata]] = None, documents: Optional[OneOrMany[Document]] = None,
            images: Optional[OneOrMany[Image]] = None, uris: Optional[OneOrMany[URI]] = None) -> None:
        """Add records; ids that already exist are ignored, as in Chroma."""
        self._write("add", ids, embeddings, metadatas, documents, images, uris)

    def upsert(self, ids: OneOrMany[ID],
               embeddings: Optional[Union[OneOrMany[Embedding], OneOrMany[PyEmbedding]]] = None,
               metadatas: Optional[OneOrMany[Metadata]] = None, documents: Optional[OneOrMany[Document]] = None,
               images: Optional[OneOrMany[Image]] = None, uris: Optional[OneOrMany[URI]] = None) -> None:
        """Insert new ids, update existing ones (metadata merged key by key)."""
        self._write("upsert", ids, embeddings, metadatas, documents, images, uris)

    def update(self, ids: OneOrMany[ID],
               embeddings: Optional[Union[OneOrMany[Embedding], OneOrMany[PyEmbedding]]] = None,
               metadatas: Optional[OneOrMany[Metadata]] = None, documents: Optional[OneOrMany[Document]] = None,
               images: Optional[OneOrMany[Image]] = None, uris: Optional[OneOrMany[URI]] = None) -> None:
        """Update existing ids (missing ids are ignored); a metadata value of None removes the key."""
        self._write("update", ids, embeddings, metadatas, documents, images, uris)

    def _write(self, op: v.Op, ids: Any, embeddings: Any, metadatas: Any, documents: Any, images: Any,
               uris: Any) -> None:
        request = prepare_write(op, ids, embeddings, metadatas, documents, images, uris, embedder=self._embedder,
                                data_loader=self._data_loader)
        operations.run_write(self._engine, request)

    def delete(self, ids: Optional[IDs] = None, where: Optional[Where] = None,
               where_document: Optional[WhereDocument] = None, limit: Optional[int] = None) -> DeleteResult:
        """Delete by ids and/or filters; returns ``{"deleted": n}``."""
        request = prepare_delete(ids, where, where_document, limit)
        return operations.run_delete(self._engine, request)  # type: ignore[return-value]

    # -- reads ---------------------------------------------------------------------------
    def count(self, read_level: Optional[Union[ReadLevel, str]] = None, *, as_of: Any = None) -> int:
        """Number of records (``as_of``: in a past version, see :meth:`versions`)."""
        return operations.count(self._engine.at(as_of))

    def get(self, ids: Optional[OneOrMany[ID]] = None, where: Optional[Where] = None, limit: Optional[int] = None,
            offset: Optional[int] = None, where_document: Optional[WhereDocument] = None,
            include: Include = v.GET_INCLUDE, *, as_of: Any = None) -> GetResult:
        """Records by id and/or filter, in insertion order (``as_of``: of a past version)."""
        request = prepare_get(ids, where, limit, offset, where_document, include,
                              has_data_loader=self._data_loader is not None)
        return with_data(operations.run_get(self._engine.at(as_of), request), self._data_loader)

    def peek(self, limit: int = 10, *, as_of: Any = None) -> GetResult:
        """The first ``limit`` records, embeddings included."""
        checked, _ = v.check_limit_offset(limit, None, "peek")
        return self.get(limit=checked, include=["metadatas", "documents", "embeddings"], as_of=as_of)

    def query(self, query_embeddings: Optional[Union[OneOrMany[Embedding], OneOrMany[PyEmbedding]]] = None,
              query_texts: Optional[OneOrMany[Document]] = None, query_images: Optional[OneOrMany[Image]] = None,
              query_uris: Optional[OneOrMany[URI]] = None, ids: Optional[OneOrMany[ID]] = None,
              n_results: int = 10, where: Optional[Where] = None, where_document: Optional[WhereDocument] = None,
              include: Include = v.QUERY_INCLUDE, *, as_of: Any = None) -> QueryResult:
        """Nearest neighbours of each query, closest first (``as_of``: in a past version)."""
        engine = self._engine.at(as_of)
        request = prepare_query(query_embeddings, query_texts, query_images, query_uris, ids, n_results, where,
                                where_document, include, embedder=self._embedder, data_loader=self._data_loader)
        return with_data(operations.run_query(engine, request), self._data_loader, per_query=True)

    # -- collection ----------------------------------------------------------------------
    def modify(self, name: Optional[str] = None, metadata: Optional[CollectionMetadata] = None,
               configuration: Optional[dict[str, Any]] = None) -> None:
        """Rename, replace the metadata, or change search-time configuration."""
        self._record = self._client._modify_collection(self._record, name=name, metadata=metadata,
                                                       configuration=configuration)
        update = (configuration or {}).get("embedding_function")
        if update is not None and not isinstance(update, dict):
            self._embedding_function = update

    def compact(self) -> None:
        """Fold the log into Arrow IPC blockfiles now (it also happens by itself past a threshold)."""
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

    def build_index(self, progress: Any = None) -> int:
        """Build every missing graph now, in this process, using every core; returns how many
        graphs were built, once they are in use (failed builds are retried).

        ``progress``: None (a bar after 2 s, if tqdm is installed), True, False, or a callable
        ``(rows_done, rows_total)``, as for ``ingest``. With ``Settings(index_build_policy="manual")``
        this is how graphs get built; see docs/index.md."""
        from chroma_frame.index.progress import reporter

        with reporter(progress) as report:
            return self._engine.build_index(report)

    def explain(self, where: Optional[Where] = None, where_document: Optional[WhereDocument] = None) -> str:
        """The DuckDB SQL a filter compiles to, with its bound parameters."""
        return CollectionEngine.explain(compile_filter(parse_filter(where, where_document)))

    # -- versions ------------------------------------------------------------------------
    def versions(self) -> list[dict[str, Any]]:
        """The versions this collection keeps, oldest first, the current one last: each a dict
        with ``version`` (the number ``as_of`` and :meth:`restore` take), ``time`` (a UTC
        ``datetime``), ``operation`` and ``records`` (the record count after it)."""
        from chroma_frame.engine.history import versions

        with operations.gone_as_not_found(self._engine):
            return [{"version": found.version,
                     "time": datetime.fromtimestamp(found.time, timezone.utc) if found.time is not None else None,
                     "operation": found.operation, "records": found.records}
                    for found in versions(self._engine.store)]

    def restore(self, version: Any) -> None:
        """Make a past version (a number from :meth:`versions`, or a timestamp) current again,
        as a new commit: nothing is rewritten and every version stays readable."""
        with operations.gone_as_not_found(self._engine):
            self._engine.store.restore(resolve_version(self._engine.store, version))
            self._engine.request_graphs(self._engine.snapshot())

    def fork(self, new_name: str, *, as_of: Any = None) -> "Collection":
        """A new collection named ``new_name`` with this one's records, configuration and
        metadata (``as_of``: of a past version). It shares this collection's files
        copy-on-write, so it takes about the same time whatever the size; writes to either
        never show in the other."""
        return self._client._fork_collection(self, new_name, as_of)

    def fork_count(self) -> int:
        """How many collections were forked from this one and still exist."""
        from chroma_frame.engine.store import forks_of

        return len(forks_of(self._engine.store.storage, str(self.id)))

    def search(self, searches: OneOrMany[Search], read_level: Union[ReadLevel, str] = "index_and_wal", *,
               as_of: Any = None) -> SearchResult:
        """Chroma's Search API (``chroma_frame.execution.expression``): a ``SearchResult``."""
        from chroma_frame.execution.executor import run_search

        return run_search(self._engine.at(as_of), self._embedder, searches, read_level)

    def get_indexing_status(self) -> IndexingStatus:
        """Chroma Cloud's indexing progress: ``num_unindexed_ops`` counts the records of blockfiles
        whose graph is still being built (searched exactly meanwhile); see :meth:`index_status`."""
        with operations.gone_as_not_found(self._engine):
            status = self._engine.index_status()
        total = status["indexed_rows"] + status["exact_rows"]
        waiting = status["waiting_rows"]
        return IndexingStatus(num_indexed_ops=total - waiting, num_unindexed_ops=waiting, total_ops=total,
                              op_indexing_progress=1.0 if total == 0 else (total - waiting) / total)

    def attach_function(self, function: Any, name: str, output_collection: str,
                        params: Optional[dict[str, Any]] = None) -> Any:
        """Chroma Cloud's attached functions: refused in-process, as by Chroma's embedded client."""
        raise NotImplementedError(EMBEDDED_FUNCTIONS_REFUSAL)

    def get_attached_function(self, name: str) -> Any:
        raise NotImplementedError(EMBEDDED_FUNCTIONS_REFUSAL)

    def detach_function(self, name: str, delete_output_collection: bool = False) -> bool:
        raise NotImplementedError(EMBEDDED_FUNCTIONS_REFUSAL)

    # -- whitebox access for tests (the package itself goes through _engine / _embedder) -----
    def _sparse_target(self) -> Optional[SparseTarget]:
        return self._embedder.sparse_target

    def _sparse_config(self, key: str) -> Optional[dict[str, Any]]:
        return self._embedder.sparse_config(key)

    def _embed_sparse(self, key: str, texts: list[str], is_query: bool = False) -> list[dict]:
        return self._embedder.sparse(key, texts, is_query=is_query)

    def _embed(self, texts: list, is_query: bool = False) -> list:
        return self._embedder.dense(texts, is_query=is_query)
