"""The server's only contact with the library: one method per endpoint, one library call each.

Methods are synchronous (the app runs them in a thread pool) and return JSON-ready data. Catalog
calls (tenants, databases, collections) go through ``Client``; record calls (write, delete, count,
get, query) prepare a request (``chroma_frame.prepare``) and run it on the collection's engine
(``chroma_frame.operations``), as ``Collection`` does.
The server never embeds: collections are opened with an embedding function that refuses.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from typing import Any, Optional

import numpy as np

from chroma_frame import operations
from chroma_frame.base_types import wire_metadatas
from chroma_frame.client import VERSION, AdminClient, Client, system_for
from chroma_frame.collection import Collection, engine_for
from chroma_frame.config import DEFAULT_DATABASE, DEFAULT_TENANT, Settings
from chroma_frame.embedder import Embedder
from chroma_frame.embeddings.registry import UnbuildableEmbeddingFunction
from chroma_frame.engine import duck
from chroma_frame.engine.collection import CollectionEngine
from chroma_frame.errors import BatchSizeExceededError, InvalidArgumentError
from chroma_frame.execution.expression import Search
from chroma_frame.filters.limits import check_depth, measure
from chroma_frame.prepare import prepare_delete, prepare_get, prepare_query, prepare_write
from chroma_frame.server import batching, codec
from chroma_frame.server import schemas as s
from chroma_frame.server.config import ServerConfig
from chroma_frame.validation import MAX_BATCH_SIZE, Op, check_collection_name

QUERY_CALLS_PER_KEY = 1  # library calls at once per (collection, query parameters); more queue and batch
_REFUSAL = ValueError("chroma-frame's server does not compute embeddings: send embeddings with the documents")
# Bound to every collection the server opens: named "default" so that it never conflicts with the
# persisted function, and it refuses to embed (embeddings arrive over the wire).
_NO_EMBEDDING = UnbuildableEmbeddingFunction({"name": "default", "type": "known", "config": {}}, _REFUSAL)


def wire_configuration(config: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """Wire configuration whose embedding-function description the library stores verbatim."""
    if not config or not isinstance(config.get("embedding_function"), dict):
        return config
    return {**config, "embedding_function": UnbuildableEmbeddingFunction(config["embedding_function"], _REFUSAL)}


def check_collection_id(collection_id: str) -> str:
    try:
        return str(uuid.UUID(collection_id))
    except ValueError:
        raise InvalidArgumentError("Collection ID is not a valid UUIDv4") from None


class Service:
    """Endpoints of Chroma's API v2 over one storage root."""

    def __init__(self, config: ServerConfig) -> None:
        self.settings = Settings(is_persistent=True, persist_directory=config.path)
        self.settings.allow_reset = config.allow_reset  # the server's flag, not the environment
        self.admin = AdminClient(self.settings)  # opens (or creates) the storage root
        self.system = system_for(self.settings)
        self._handles: dict[tuple[str, str], Client] = {}
        limit = MAX_BATCH_SIZE
        self.max_batch_size = min(config.max_batch_size, limit) if config.max_batch_size else limit
        # Concurrent queries with the same parameters share one library call (see batching.py).
        self._queries = batching.Coalescer(max_running=QUERY_CALLS_PER_KEY)
        self.request_timeout = config.request_timeout
        if config.request_timeout:  # a filter outliving its request is interrupted with it
            duck.set_statement_timeout(config.request_timeout)

    # -- helpers -----------------------------------------------------------------------------
    def _scoped(self, tenant: str, database: str) -> Client:
        """A client for one tenant/database (it checks both exist, as Chroma does)."""
        return Client(self.settings, tenant, database)

    def _handle(self, tenant: str, database: str) -> Client:
        """A cached client for record calls: like Chroma, they address collections by id only, so
        the path's tenant/database is checked once, not on every request."""
        key = (tenant, database)
        handle = self._handles.get(key)
        if handle is None:
            handle = self._scoped(tenant, database)
            if len(self._handles) >= 256:
                self._handles.clear()
            self._handles[key] = handle
        return handle

    def _collection(self, tenant: str, database: str, collection_id: str) -> Collection:
        return self._handle(tenant, database).get_collection_by_id(check_collection_id(collection_id),
                                                                   embedding_function=_NO_EMBEDDING)

    def _records(self, tenant: str, database: str, collection_id: str) -> tuple[CollectionEngine, Embedder]:
        """The engine and the embedder of a collection, for record calls: its tenant and database
        checked (once, see ``_handle``), then its model looked up by id."""
        self._handle(tenant, database)
        model = self.system.collection_model(check_collection_id(collection_id))
        return engine_for(self.system, model), Embedder(_NO_EMBEDDING, model.get("serialized_schema"))

    def _check_batch(self, ids: list[str]) -> None:
        if len(ids) > self.max_batch_size:
            raise BatchSizeExceededError(
                f"Batch size of {len(ids)} is greater than max batch size of {self.max_batch_size}"
            )

    # -- system ------------------------------------------------------------------------------
    def pre_flight(self) -> dict[str, Any]:
        return {"max_batch_size": self.max_batch_size, "supports_base64_encoding": True}

    def version(self) -> str:
        return VERSION

    def heartbeat(self) -> dict[str, int]:
        return {"nanosecond heartbeat": time.time_ns()}

    def identity(self, user_id: str) -> dict[str, Any]:
        return {"user_id": user_id, "tenant": DEFAULT_TENANT, "databases": [DEFAULT_DATABASE]}

    def reset(self) -> bool:
        return Client(self.settings).reset()

    # -- tenants and databases ---------------------------------------------------------------
    def create_tenant(self, body: s.CreateTenantPayload) -> dict:
        self.admin.create_tenant(body.name)
        return {}

    def get_tenant(self, name: str) -> dict[str, Any]:
        return {**self.admin.get_tenant(name), "resource_name": None}

    def create_database(self, tenant: str, body: s.CreateDatabasePayload) -> dict:
        check_collection_name(body.name)  # Chroma's server holds database names to the collection rule
        self.admin.create_database(body.name, tenant)
        return {}

    def list_databases(self, tenant: str, limit: Optional[int], offset: Optional[int]) -> list[dict]:
        return [codec.database_json(d) for d in self.admin.list_databases(limit, offset, tenant)]

    def get_database(self, tenant: str, name: str) -> dict[str, Any]:
        return codec.database_json(self.admin.get_database(name, tenant))

    def delete_database(self, tenant: str, name: str) -> dict:
        self.admin.delete_database(name, tenant)
        return {}

    # -- collections -------------------------------------------------------------------------
    def list_collections(self, tenant: str, database: str, limit: Optional[int],
                         offset: Optional[int]) -> list[dict]:
        return [codec.collection_json(c.get_model())
                for c in self._scoped(tenant, database).list_collections(limit, offset)]

    def count_collections(self, tenant: str, database: str) -> int:
        return self._scoped(tenant, database).count_collections()

    def create_collection(self, tenant: str, database: str, body: s.CreateCollectionPayload) -> dict:
        collection = self._scoped(tenant, database).create_collection(
            body.name, schema=body.schema_, configuration=wire_configuration(body.configuration),
            metadata=body.metadata, embedding_function=None, get_or_create=body.get_or_create,
        )
        return codec.collection_json(collection.get_model())

    def get_collection(self, tenant: str, database: str, name: str) -> dict:
        collection = self._scoped(tenant, database).get_collection(name, embedding_function=_NO_EMBEDDING)
        return codec.collection_json(collection.get_model())

    def get_collection_by_id(self, tenant: str, database: str, collection_id: str) -> dict:
        return codec.collection_json(self._collection(tenant, database, collection_id).get_model())

    def update_collection(self, tenant: str, database: str, collection_id: str,
                          body: s.UpdateCollectionPayload) -> dict:
        self._collection(tenant, database, collection_id).modify(
            name=body.new_name, metadata=body.new_metadata, configuration=body.new_configuration
        )
        return {}

    def delete_collection(self, tenant: str, database: str, name: str) -> dict:
        self._scoped(tenant, database).delete_collection(name)
        return {}

    # -- records -----------------------------------------------------------------------------
    def write(self, op: Op, tenant: str, database: str, collection_id: str, body: Any) -> dict:
        """add / upsert / update: embeddings decoded from the wire, metadata as sent."""
        self._check_batch(body.ids)
        metadatas = None if body.metadatas is None else [_plain(m) for m in body.metadatas]
        engine, embedder = self._records(tenant, database, collection_id)
        request = prepare_write(op, body.ids, codec.decode_embeddings(body.embeddings), metadatas, body.documents,
                                None, body.uris, embedder=embedder)
        operations.run_write(engine, request)
        return {}

    def delete(self, tenant: str, database: str, collection_id: str, body: s.DeleteCollectionRecordsPayload) -> dict:
        engine, _ = self._records(tenant, database, collection_id)
        return operations.run_delete(engine, prepare_delete(body.ids, body.where, body.where_document, body.limit))

    def count(self, tenant: str, database: str, collection_id: str, read_level: Optional[str]) -> int:
        engine, _ = self._records(tenant, database, collection_id)
        return operations.count(engine)

    def get(self, tenant: str, database: str, collection_id: str, body: s.GetRequestPayload) -> dict:
        engine, _ = self._records(tenant, database, collection_id)
        request = prepare_get(body.ids, body.where, body.limit, body.offset, body.where_document, list(body.include))
        result = operations.run_get(engine, request)
        result["metadatas"] = wire_metadatas(result.get("metadatas"))
        return codec.get_response(result, body.include)

    def query(self, tenant: str, database: str, collection_id: str, body: s.QueryRequestPayload) -> dict:
        queries = codec.query_matrix(body.query_embeddings)
        key = batching.query_key(tenant, database, collection_id, body, queries)
        if key is None:
            return self._query(tenant, database, collection_id, body, [queries])[0]
        return self._queries.submit(key, queries,
                                    lambda batch: self._query(tenant, database, collection_id, body, batch))

    def _query(self, tenant: str, database: str, collection_id: str, body: s.QueryRequestPayload,
               batch: list[Any]) -> list[dict]:
        """One library call for the query matrices of concurrent requests with the same parameters."""
        engine, embedder = self._records(tenant, database, collection_id)
        request = prepare_query(batch[0] if len(batch) == 1 else np.concatenate(batch), ids=body.ids,
                                n_results=body.n_results, where=body.where, where_document=body.where_document,
                                include=list(body.include), embedder=embedder)
        result = operations.run_query(engine, request)
        result["metadatas"] = wire_metadatas(result.get("metadatas"))
        if len(batch) == 1:
            return [codec.query_response(result, body.include)]
        parts = batching.split_rows(result, [len(q) for q in batch])
        return [codec.query_response(part, body.include) for part in parts]

    def search(self, tenant: str, database: str, collection_id: str, body: s.SearchRequestPayload) -> dict:
        collection = self._collection(tenant, database, collection_id)
        for payload in body.searches:  # parsed recursively: refuse what Chroma's server cannot read first
            check_depth(measure(payload, "search"), "search")
        try:
            searches = [Search.from_dict(payload) for payload in body.searches]
        except (KeyError, AttributeError, IndexError) as exc:  # malformed payloads, as Chroma's 4xx
            raise InvalidArgumentError(f"Invalid search payload: {exc!r}") from None
        result = collection.search(searches, read_level=body.read_level or "index_and_wal")
        out = {name: result[name] for name in ("ids", "documents", "embeddings", "scores", "select")}
        out["metadatas"] = wire_metadatas(result["metadatas"])
        return out

    # -- Chroma Cloud's forks and indexing status -------------------------------------------
    def fork(self, tenant: str, database: str, collection_id: str, new_name: str) -> dict:
        return codec.collection_json(self._collection(tenant, database, collection_id).fork(new_name).get_model())

    def fork_count(self, tenant: str, database: str, collection_id: str) -> dict:
        return {"count": self._collection(tenant, database, collection_id).fork_count()}

    def indexing_status(self, tenant: str, database: str, collection_id: str) -> Any:
        return dataclasses.asdict(self._collection(tenant, database, collection_id).get_indexing_status())


def _plain(metadata: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """Metadata with sparse vectors back in their wire-dict form."""
    if metadata is None:
        return None
    return {k: v.model_dump(by_alias=True, exclude_none=True) if isinstance(v, s.SparseVector) else v
            for k, v in metadata.items()}
