"""``HttpClient`` and ``AsyncHttpClient``: the embedded client's API over Chroma's REST API v2.

One request-building core (:class:`_Core`, :class:`_CollectionCore`) validates arguments with the
library's own validators, embeds documents with the collection's embedding function, and turns
each call into a :class:`Call` (method, path, body, parser) without doing any I/O. The sync and
async clients are thin twins that send a ``Call`` with ``httpx.Client`` / ``httpx.AsyncClient``.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, Union, cast
from urllib.parse import quote, urlparse

import httpx
import numpy as np
import orjson

from chroma_frame import validation as v
from chroma_frame.config import DEFAULT_DATABASE, DEFAULT_TENANT, Settings
from chroma_frame.embedder import Embedder
from chroma_frame.embeddings.binding import (
    DEFAULT,
    bind_embedding_function,
    embedding_function_config,
    updated_embedding_function_config,
)
from chroma_frame.errors import error_types
from chroma_frame.multimodal import with_data
from chroma_frame.prepare import prepare_delete, prepare_get, prepare_query, prepare_write
from chroma_frame.types import IndexingStatus
from chroma_frame.validation import Op

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
    from chroma_frame.collection_model import CollectionModel
    from chroma_frame.execution.executor.inputs import ReadLevel
    from chroma_frame.execution.expression import Search
    from chroma_frame.interop.results import SearchResult

_TOKEN_PROVIDERS = {"token", "chromadb.auth.token_authn.TokenAuthClientProvider"}
_BASIC_PROVIDERS = {"basic", "chromadb.auth.basic_authn.BasicAuthClientProvider"}
_CONNECT_ERROR = "Could not connect to a Chroma server. Are you sure it is running?"


def _identity(x: Any) -> Any:
    return x


@dataclass(frozen=True)
class Call:
    """One HTTP request and how to read its JSON answer."""

    method: str
    path: str
    body: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    parse: Callable[[Any], Any] = _identity


# -- the request-building core (no I/O) -----------------------------------------------------------


def base_url(host: str, port: int, ssl: bool) -> str:
    """``http(s)://host:port/api/v2``; a ``host`` given as a full URL keeps its own port."""
    if host.startswith(("http://", "https://")):
        parsed = urlparse(host)
        scheme = "https" if ssl else parsed.scheme
        return f"{scheme}://{parsed.netloc}{parsed.path.rstrip('/')}/api/v2"
    return f"{'https' if ssl else 'http'}://{host}:{port}/api/v2"


def auth_headers(settings: Settings) -> dict[str, str]:
    """Headers for ``chroma_client_auth_provider`` / ``chroma_client_auth_credentials``, as chromadb sends."""
    provider, credentials = settings.chroma_client_auth_provider, settings.chroma_client_auth_credentials
    if not provider:
        return {}
    if credentials is None:
        raise ValueError("Missing required config value 'chroma_client_auth_credentials'")
    if provider in _TOKEN_PROVIDERS:
        header = (settings.chroma_auth_token_transport_header or "Authorization").lower()
        if header == "x-chroma-token":
            return {"X-Chroma-Token": credentials}
        return {"Authorization": f"Bearer {credentials}"}
    if provider in _BASIC_PROVIDERS:
        return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}
    raise ValueError(f"Unknown chroma_client_auth_provider {provider!r}")


def raise_for_error(status: int, content: bytes, headers: Any = None) -> None:
    """Raise the Chroma error class a ``{"error", "message"}`` body names (or a plain Exception)."""
    if status < 400:
        return
    try:
        body = orjson.loads(content)
        cls = error_types.get(cast(str, body.get("error"))) if isinstance(body, dict) else None
    except orjson.JSONDecodeError:
        cls = None
    if cls is not None:
        error = cls(body.get("message", ""))
        trace_id = headers.get("chroma-trace-id") if headers is not None else None
        if trace_id:
            error.trace_id = trace_id
        raise error
    raise Exception(content.decode(errors="replace") or f"HTTP {status}")


def _b64(matrix: Any) -> list[str]:
    rows = np.asarray(matrix, dtype="<f4")
    return [base64.b64encode(row.tobytes()).decode() for row in rows]


def _get_result(body: dict[str, Any], include: Sequence[str]) -> dict[str, Any]:
    from chroma_frame.interop.results import FramedGetResult

    emb = body.get("embeddings")
    return FramedGetResult({
        "ids": body["ids"],
        "embeddings": None if emb is None else np.asarray(emb, dtype=np.float32).reshape(len(body["ids"]), -1),
        "documents": body.get("documents"),
        "uris": body.get("uris"),
        "included": list(include),
        "data": None,
        "metadatas": _from_wire(body.get("metadatas")),
    })


def _from_wire(metadatas: Optional[list]) -> Optional[list]:
    """Sparse vectors back as ``SparseVector`` (as chromadb's HTTP client returns them)."""
    from chroma_frame.base_types import deserialize_metadata

    return None if metadatas is None else [deserialize_metadata(m) for m in metadatas]


def _query_result(body: dict[str, Any], include: Sequence[str]) -> dict[str, Any]:
    from chroma_frame.interop.results import FramedQueryResult

    emb = body.get("embeddings")
    return FramedQueryResult({
        "ids": body["ids"],
        "embeddings": None if emb is None else [
            None if e is None else np.asarray(e, dtype=np.float32).reshape(len(ids), -1)
            for e, ids in zip(emb, body["ids"])
        ],
        "documents": body.get("documents"),
        "uris": body.get("uris"),
        "data": None,
        "metadatas": None if body.get("metadatas") is None else [_from_wire(m) for m in body["metadatas"]],
        "distances": body.get("distances"),
        "included": list(include),
    })


def _search_result(body: dict[str, Any]) -> Any:
    """A ``SearchResponse`` as ``SearchResult``, sparse vectors back as ``SparseVector`` (as chromadb does)."""
    from chroma_frame.base_types import deserialize_metadata
    from chroma_frame.interop.results import SearchResult

    metadatas = body.get("metadatas")
    if metadatas is not None:
        body["metadatas"] = [None if batch is None else [deserialize_metadata(m) for m in batch] for batch in metadatas]
    return SearchResult(body)


class _Core:
    """Client-level calls for one tenant and database."""

    def __init__(self, tenant: str, database: str) -> None:
        self.tenant, self.database = tenant, database

    @property
    def prefix(self) -> str:
        return f"/tenants/{quote(self.tenant, safe='')}/databases/{quote(self.database, safe='')}"

    heartbeat = staticmethod(lambda: Call("GET", "/heartbeat", parse=lambda b: int(b["nanosecond heartbeat"])))
    version = staticmethod(lambda: Call("GET", "/version"))
    pre_flight = staticmethod(lambda: Call("GET", "/pre-flight-checks"))
    identity = staticmethod(lambda: Call("GET", "/auth/identity"))
    reset = staticmethod(lambda: Call("POST", "/reset"))

    @staticmethod
    def create_tenant(name: str) -> Call:
        v.check_tenant_name(name)
        return Call("POST", "/tenants", {"name": name}, parse=lambda b: None)

    @staticmethod
    def get_tenant(name: str) -> Call:
        return Call("GET", f"/tenants/{quote(name, safe='')}", parse=lambda b: {"name": b["name"]})

    @staticmethod
    def create_database(name: str, tenant: str) -> Call:
        v.check_database_name(name)
        return Call("POST", f"/tenants/{quote(tenant, safe='')}/databases", {"name": name}, parse=lambda b: None)

    @staticmethod
    def get_database(name: str, tenant: str) -> Call:
        return Call("GET", f"/tenants/{quote(tenant, safe='')}/databases/{quote(name, safe='')}", parse=_database)

    @staticmethod
    def delete_database(name: str, tenant: str) -> Call:
        return Call("DELETE", f"/tenants/{quote(tenant, safe='')}/databases/{quote(name, safe='')}",
                    parse=lambda b: None)

    @staticmethod
    def list_databases(limit: Optional[int], offset: Optional[int], tenant: str) -> Call:
        return Call("GET", f"/tenants/{quote(tenant, safe='')}/databases", params=_page(limit, offset),
                    parse=lambda b: [_database(d) for d in b])

    def list_collections(self, limit: Optional[int], offset: Optional[int]) -> Call:
        return Call("GET", f"{self.prefix}/collections", params=_page(limit, offset))

    def count_collections(self) -> Call:
        return Call("GET", f"{self.prefix}/collections_count")

    def create_collection(self, name: str, configuration: Optional[dict], metadata: Optional[dict],
                          embedding_function: Any, get_or_create: bool, schema: Any = None) -> Call:
        ef_config, default_space = embedding_function_config(embedding_function, configuration)
        hnsw, spann = v.create_sections(configuration, metadata, default_space)
        config: Optional[dict[str, Any]] = None  # chromadb sends none without a configuration or a function
        if configuration or ef_config is not None:  # (a configuration without a function is a legacy one)
            config = {k: val for k, val in (configuration or {}).items()
                      if k not in ("hnsw", "spann", "embedding_function")}
            config.update({"hnsw": hnsw, "spann": spann, "embedding_function": ef_config})
        from chroma_frame.schema import schema_json

        body = {"name": name, "metadata": metadata, "configuration": config, "schema": schema_json(schema),
                "get_or_create": get_or_create}
        return Call("POST", f"{self.prefix}/collections", body)

    def get_collection(self, name: str) -> Call:
        return Call("GET", f"{self.prefix}/collections/{quote(name, safe='')}")

    def get_collection_by_id(self, collection_id: Any) -> Call:
        return Call("GET", f"{self.prefix}/collections/by-id/{uuid.UUID(str(collection_id))}")

    def delete_collection(self, name: str) -> Call:
        return Call("DELETE", f"{self.prefix}/collections/{quote(name, safe='')}", parse=lambda b: None)


def _wire_include(include: Sequence[str]) -> list[str]:
    """``include`` as chromadb's client sends it: "data" is loaded client-side, never asked for."""
    return [i for i in include if i != "data"]


def _page(limit: Optional[int], offset: Optional[int]) -> dict[str, Any]:
    return {k: val for k, val in (("limit", limit), ("offset", offset)) if val is not None}


def _database(body: dict[str, Any]) -> dict[str, Any]:
    return {"id": uuid.UUID(body["id"]), "name": body["name"], "tenant": body["tenant"]}


class _CollectionCore:
    """Record calls of one collection: library validation, embedding, then a :class:`Call`."""

    def __init__(self, model: dict[str, Any], embedding_function: Any, data_loader: Any = None) -> None:
        self.model = model
        self.embedding_function = embedding_function
        self.data_loader = data_loader

    @property
    def path(self) -> str:
        m = self.model
        return (f"/tenants/{quote(m['tenant'], safe='')}/databases/{quote(m['database'], safe='')}"
                f"/collections/{m['id']}")

    @property
    def embedder(self) -> Embedder:
        """The collection's functions, called once per request as chromadb's client does."""
        return Embedder(self.embedding_function, self.model.get("schema"), batched=False)

    def write(self, op: Op, max_batch_size: int, ids: OneOrMany[ID],
              embeddings: Optional[Union[OneOrMany[Embedding], OneOrMany[PyEmbedding]]],
              metadatas: Optional[OneOrMany[Metadata]], documents: Optional[OneOrMany[Document]],
              images: Optional[OneOrMany[Image]], uris: Optional[OneOrMany[URI]]) -> Call:
        request = prepare_write(op, ids, embeddings, metadatas, documents, images, uris, embedder=self.embedder,
                                fill_sparse=False, max_batch_size=max_batch_size,  # the server fills sparse vectors
                                data_loader=self.data_loader)
        embedded = request.embeddings
        body = {"ids": request.ids, "embeddings": None if embedded is None else _b64(embedded),
                "metadatas": request.metadatas, "documents": request.documents, "uris": request.uris}
        return Call("POST", f"{self.path}/{op}", body, parse=lambda b: None)

    def delete(self, ids: Optional[IDs], where: Optional[Where], where_document: Optional[WhereDocument],
               limit: Optional[int]) -> Call:
        request = prepare_delete(ids, where, where_document, limit)
        body: dict[str, Any] = {"ids": request.ids, "where": where, "where_document": where_document}
        if limit is not None:
            body["limit"] = limit
        return Call("POST", f"{self.path}/delete", body, parse=lambda b: {"deleted": int(b.get("deleted", 0))})

    def count(self) -> Call:
        return Call("GET", f"{self.path}/count", params={"read_level": "index_and_wal"})

    def get(self, ids: Optional[OneOrMany[ID]], where: Optional[Where], limit: Optional[int], offset: Optional[int],
            where_document: Optional[WhereDocument], include: Optional[Include]) -> Call:
        request = prepare_get(ids, where, limit, offset, where_document, include,
                              has_data_loader=self.data_loader is not None)
        body = {"ids": request.ids, "where": where, "limit": request.limit, "offset": request.offset or None,
                "where_document": where_document, "include": _wire_include(request.include)}
        return Call("POST", f"{self.path}/get", body,
                    parse=lambda b: with_data(_get_result(b, request.include), self.data_loader))

    def query(self, query_embeddings: Optional[Union[OneOrMany[Embedding], OneOrMany[PyEmbedding]]],
              query_texts: Optional[OneOrMany[Document]],
              query_images: Optional[OneOrMany[Image]], query_uris: Optional[OneOrMany[URI]],
              ids: Optional[OneOrMany[ID]], n_results: int, where: Optional[Where],
              where_document: Optional[WhereDocument], include: Optional[Include]) -> Call:
        request = prepare_query(query_embeddings, query_texts, query_images, query_uris, ids, n_results, where,
                                where_document, include, embedder=self.embedder, data_loader=self.data_loader)
        rows = [np.asarray(e, dtype=np.float32).tolist() for e in request.embeddings]
        body = {"ids": request.ids, "query_embeddings": rows, "n_results": request.n_results, "where": where,
                "where_document": where_document, "include": _wire_include(request.include)}
        return Call("POST", f"{self.path}/query", body,
                    parse=lambda b: with_data(_query_result(b, request.include), self.data_loader, per_query=True))

    def search(self, searches: OneOrMany[Search], read_level: Union[ReadLevel, str]) -> Call:
        """Text queries embedded here, as chromadb's client does: ``#embedding`` with the collection's
        function, a sparse key with the function of its index in the schema."""
        from chroma_frame.execution.executor.inputs import (
            as_searches,
            check_read_level,
            embed_text_queries,
            text_embedder,
        )

        level = check_read_level(read_level)
        embed = text_embedder(self.embedder)
        payloads = [embed_text_queries(s, embed).to_dict() for s in as_searches(searches)]
        return Call("POST", f"{self.path}/search", {"searches": payloads, "read_level": level.value},
                    parse=_search_result)

    def modify(self, name: Optional[str], metadata: Optional[CollectionMetadata],
               configuration: Optional[dict[str, Any]]) -> Call:
        if metadata is not None:
            v.check_modify_metadata(metadata)
        config = None
        if configuration:
            config = {k: val for k, val in configuration.items() if k != "embedding_function"}
            ef = configuration.get("embedding_function")
            if ef is not None:  # checked here, so a refused function changes nothing on the server
                persisted = (self.model.get("configuration_json") or {}).get("embedding_function")
                config["embedding_function"] = updated_embedding_function_config(persisted, ef)
        body = {"new_name": name, "new_metadata": metadata, "new_configuration": config}
        return Call("PUT", self.path, body, parse=lambda b: None)

    def fork(self, new_name: str) -> Call:
        return Call("POST", f"{self.path}/fork", {"new_name": new_name})

    def attach_function(self, function: Any, name: str, output_collection: str,
                        params: Optional[dict[str, Any]]) -> Call:
        body = {"name": name, "function_id": getattr(function, "value", function),
                "output_collection": output_collection, "params": params}
        return Call("POST", f"{self.path}/functions/attach", body,
                    parse=lambda b: (b["attached_function"], b.get("created", True)))

    def get_attached_function(self, name: str) -> Call:
        return Call("GET", f"{self.path}/functions/{quote(name, safe='')}", parse=lambda b: b["attached_function"])

    def detach_function(self, name: str, delete_output: bool) -> Call:
        return Call("POST", f"{self.path}/attached_functions/{quote(name, safe='')}/detach",
                    {"delete_output": delete_output}, parse=lambda b: bool(b["success"]))

    def fork_count(self) -> Call:
        return Call("GET", f"{self.path}/fork_count", parse=lambda b: int(b["count"]))

    def indexing_status(self) -> Call:
        return Call("GET", f"{self.path}/indexing_status", parse=lambda b: IndexingStatus(
            num_indexed_ops=b["num_indexed_ops"], num_unindexed_ops=b["num_unindexed_ops"],
            total_ops=b["total_ops"], op_indexing_progress=b["op_indexing_progress"]))


# -- collections -------------------------------------------------------------------------------


class _CollectionBase:
    """Properties shared by the sync and async collection handles."""

    def __init__(self, client: Any, model: dict[str, Any], embedding_function: Any = None,
                 data_loader: Any = None) -> None:
        self._client = client
        self._core = _CollectionCore(model, embedding_function, data_loader)

    @property
    def _record(self) -> dict[str, Any]:
        """The collection's JSON as the server sent it."""
        return self._core.model

    @property
    def _data_loader(self) -> Any:
        return self._core.data_loader

    @property
    def _model(self) -> CollectionModel:
        return self.get_model()

    id = property(lambda self: uuid.UUID(str(self._record["id"])))
    name = property(lambda self: self._record["name"])
    metadata = property(lambda self: self._record.get("metadata"))
    configuration_json = property(lambda self: self._record.get("configuration_json") or {})

    @property
    def schema(self) -> Any:
        """The collection's ``Schema``, as the server stores it."""
        from chroma_frame.schema.model import Schema

        return Schema.deserialize_from_json(self._record.get("schema") or {})
    tenant = property(lambda self: self._record["tenant"])
    database = property(lambda self: self._record["database"])
    embedding_function = property(lambda self: self._core.embedding_function)

    @property
    def configuration(self) -> dict[str, Any]:
        return {**self.configuration_json, "embedding_function": self._core.embedding_function}

    def get_model(self) -> CollectionModel:
        """Chroma's collection model, as the server last described the collection."""
        from chroma_frame.collection_model import CollectionModel

        return CollectionModel.from_record(self._record, serialized_schema=self._record.get("schema"))

    def __repr__(self) -> str:
        return f"Collection(name={self.name})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _CollectionBase):
            return NotImplemented
        fields = ("id", "name", "configuration_json", "schema", "metadata", "tenant", "database")
        return [self._record.get(f) for f in fields] + [self._data_loader] == \
            [other._record.get(f) for f in fields] + [other._data_loader]


class HttpCollection(_CollectionBase):
    """A collection whose verbs call the server."""

    def _write(self, op: Op, ids: OneOrMany[ID],
               embeddings: Optional[Union[OneOrMany[Embedding], OneOrMany[PyEmbedding]]],
               metadatas: Optional[OneOrMany[Metadata]], documents: Optional[OneOrMany[Document]],
               images: Optional[OneOrMany[Image]], uris: Optional[OneOrMany[URI]]) -> None:
        call = self._core.write(op, self._client.get_max_batch_size(), ids, embeddings, metadatas,
                                documents, images, uris)
        self._client._send(call)

    def add(self, ids: OneOrMany[ID],
            embeddings: Optional[Union[OneOrMany[Embedding], OneOrMany[PyEmbedding]]] = None,
            metadatas: Optional[OneOrMany[Metadata]] = None, documents: Optional[OneOrMany[Document]] = None,
            images: Optional[OneOrMany[Image]] = None, uris: Optional[OneOrMany[URI]] = None) -> None:
        self._write("add", ids, embeddings, metadatas, documents, images, uris)

    def upsert(self, ids: OneOrMany[ID],
               embeddings: Optional[Union[OneOrMany[Embedding], OneOrMany[PyEmbedding]]] = None,
               metadatas: Optional[OneOrMany[Metadata]] = None, documents: Optional[OneOrMany[Document]] = None,
               images: Optional[OneOrMany[Image]] = None, uris: Optional[OneOrMany[URI]] = None) -> None:
        self._write("upsert", ids, embeddings, metadatas, documents, images, uris)

    def update(self, ids: OneOrMany[ID],
               embeddings: Optional[Union[OneOrMany[Embedding], OneOrMany[PyEmbedding]]] = None,
               metadatas: Optional[OneOrMany[Metadata]] = None, documents: Optional[OneOrMany[Document]] = None,
               images: Optional[OneOrMany[Image]] = None, uris: Optional[OneOrMany[URI]] = None) -> None:
        self._write("update", ids, embeddings, metadatas, documents, images, uris)

    def delete(self, ids: Optional[IDs] = None, where: Optional[Where] = None,
               where_document: Optional[WhereDocument] = None, limit: Optional[int] = None) -> DeleteResult:
        return self._client._send(self._core.delete(ids, where, where_document, limit))

    def count(self, read_level: Optional[Union[ReadLevel, str]] = None) -> int:
        return self._client._send(self._core.count())

    def get(self, ids: Optional[OneOrMany[ID]] = None, where: Optional[Where] = None, limit: Optional[int] = None,
            offset: Optional[int] = None, where_document: Optional[WhereDocument] = None,
            include: Include = v.GET_INCLUDE) -> GetResult:
        return self._client._send(self._core.get(ids, where, limit, offset, where_document, include))

    def peek(self, limit: int = 10) -> GetResult:
        return self.get(limit=limit, include=["metadatas", "documents", "embeddings"])

    def query(self, query_embeddings: Optional[Union[OneOrMany[Embedding], OneOrMany[PyEmbedding]]] = None,
              query_texts: Optional[OneOrMany[Document]] = None, query_images: Optional[OneOrMany[Image]] = None,
              query_uris: Optional[OneOrMany[URI]] = None, ids: Optional[OneOrMany[ID]] = None,
              n_results: int = 10, where: Optional[Where] = None, where_document: Optional[WhereDocument] = None,
              include: Include = v.QUERY_INCLUDE) -> QueryResult:
        return self._client._send(self._core.query(query_embeddings, query_texts, query_images, query_uris,
                                                   ids, n_results, where, where_document, include))

    def search(self, searches: OneOrMany[Search],
               read_level: Union[ReadLevel, str] = "index_and_wal") -> SearchResult:
        return self._client._send(self._core.search(searches, read_level))

    def modify(self, name: Optional[str] = None, metadata: Optional[CollectionMetadata] = None,
               configuration: Optional[dict[str, Any]] = None) -> None:
        self._client._send(self._core.modify(name, metadata, configuration))
        self._core.model = self._client._send(self._client._core.get_collection_by_id(self.id))
        if (configuration or {}).get("embedding_function") is not None:
            self._core.embedding_function = configuration["embedding_function"]  # type: ignore[index]

    def fork(self, new_name: str) -> "HttpCollection":
        model = self._client._send(self._core.fork(new_name))
        return HttpCollection(self._client, model, self.embedding_function, self._data_loader)

    def fork_count(self) -> int:
        """How many collections were forked from this one and still exist."""
        return self._client._send(self._core.fork_count())

    def get_indexing_status(self) -> IndexingStatus:
        """Records searched in their final form against records waiting for a graph build."""
        return self._client._send(self._core.indexing_status())

    def attach_function(self, function: Any, name: str, output_collection: str,
                        params: Optional[dict[str, Any]] = None) -> Any:
        """Chroma Cloud's attached functions (``chroma-frame run`` answers 501, as ``chroma run``)."""
        return self._client._send(self._core.attach_function(function, name, output_collection, params))

    def get_attached_function(self, name: str) -> Any:
        return self._client._send(self._core.get_attached_function(name))

    def detach_function(self, name: str, delete_output_collection: bool = False) -> bool:
        return self._client._send(self._core.detach_function(name, delete_output_collection))


class AsyncHttpCollection(_CollectionBase):
    """The async twin of :class:`HttpCollection`."""

    async def _write(self, op: Op, ids: OneOrMany[ID],
                     embeddings: Optional[Union[OneOrMany[Embedding], OneOrMany[PyEmbedding]]],
                     metadatas: Optional[OneOrMany[Metadata]], documents: Optional[OneOrMany[Document]],
                     images: Optional[OneOrMany[Image]], uris: Optional[OneOrMany[URI]]) -> None:
        call = self._core.write(op, await self._client.get_max_batch_size(), ids, embeddings, metadatas,
                                documents, images, uris)
        await self._client._send(call)

    async def add(self, ids: OneOrMany[ID],
                  embeddings: Optional[Union[OneOrMany[Embedding], OneOrMany[PyEmbedding]]] = None,
                  metadatas: Optional[OneOrMany[Metadata]] = None, documents: Optional[OneOrMany[Document]] = None,
                  images: Optional[OneOrMany[Image]] = None, uris: Optional[OneOrMany[URI]] = None) -> None:
        await self._write("add", ids, embeddings, metadatas, documents, images, uris)

    async def upsert(self, ids: OneOrMany[ID],
                     embeddings: Optional[Union[OneOrMany[Embedding], OneOrMany[PyEmbedding]]] = None,
                     metadatas: Optional[OneOrMany[Metadata]] = None, documents: Optional[OneOrMany[Document]] = None,
                     images: Optional[OneOrMany[Image]] = None, uris: Optional[OneOrMany[URI]] = None) -> None:
        await self._write("upsert", ids, embeddings, metadatas, documents, images, uris)

    async def update(self, ids: OneOrMany[ID],
                     embeddings: Optional[Union[OneOrMany[Embedding], OneOrMany[PyEmbedding]]] = None,
                     metadatas: Optional[OneOrMany[Metadata]] = None, documents: Optional[OneOrMany[Document]] = None,
                     images: Optional[OneOrMany[Image]] = None, uris: Optional[OneOrMany[URI]] = None) -> None:
        await self._write("update", ids, embeddings, metadatas, documents, images, uris)

    async def delete(self, ids: Optional[IDs] = None, where: Optional[Where] = None,
                     where_document: Optional[WhereDocument] = None, limit: Optional[int] = None) -> DeleteResult:
        return await self._client._send(self._core.delete(ids, where, where_document, limit))

    async def count(self, read_level: Optional[Union[ReadLevel, str]] = None) -> int:
        return await self._client._send(self._core.count())

    async def get(self, ids: Optional[OneOrMany[ID]] = None, where: Optional[Where] = None,
                  limit: Optional[int] = None, offset: Optional[int] = None,
                  where_document: Optional[WhereDocument] = None, include: Include = v.GET_INCLUDE) -> GetResult:
        return await self._client._send(self._core.get(ids, where, limit, offset, where_document, include))

    async def peek(self, limit: int = 10) -> GetResult:
        return await self.get(limit=limit, include=["metadatas", "documents", "embeddings"])

    async def query(self, query_embeddings: Optional[Union[OneOrMany[Embedding], OneOrMany[PyEmbedding]]] = None,
                    query_texts: Optional[OneOrMany[Document]] = None,
                    query_images: Optional[OneOrMany[Image]] = None, query_uris: Optional[OneOrMany[URI]] = None,
                    ids: Optional[OneOrMany[ID]] = None, n_results: int = 10, where: Optional[Where] = None,
                    where_document: Optional[WhereDocument] = None,
                    include: Include = v.QUERY_INCLUDE) -> QueryResult:
        return await self._client._send(self._core.query(query_embeddings, query_texts, query_images,
                                                         query_uris, ids, n_results, where, where_document,
                                                         include))

    async def search(self, searches: OneOrMany[Search],
                     read_level: Union[ReadLevel, str] = "index_and_wal") -> SearchResult:
        return await self._client._send(self._core.search(searches, read_level))

    async def modify(self, name: Optional[str] = None, metadata: Optional[CollectionMetadata] = None,
                     configuration: Optional[dict[str, Any]] = None) -> None:
        await self._client._send(self._core.modify(name, metadata, configuration))
        self._core.model = await self._client._send(self._client._core.get_collection_by_id(self.id))
        if (configuration or {}).get("embedding_function") is not None:
            self._core.embedding_function = configuration["embedding_function"]  # type: ignore[index]

    async def fork(self, new_name: str) -> "AsyncHttpCollection":
        model = await self._client._send(self._core.fork(new_name))
        return AsyncHttpCollection(self._client, model, self.embedding_function, self._data_loader)

    async def fork_count(self) -> int:
        return await self._client._send(self._core.fork_count())

    async def get_indexing_status(self) -> IndexingStatus:
        return await self._client._send(self._core.indexing_status())

    async def attach_function(self, function: Any, name: str, output_collection: str,
                              params: Optional[dict[str, Any]] = None) -> Any:
        return await self._client._send(self._core.attach_function(function, name, output_collection, params))

    async def get_attached_function(self, name: str) -> Any:
        return await self._client._send(self._core.get_attached_function(name))

    async def detach_function(self, name: str, delete_output_collection: bool = False) -> bool:
        return await self._client._send(self._core.detach_function(name, delete_output_collection))


# -- clients -----------------------------------------------------------------------------------


class _ClientBase:
    """Connection settings and the pieces both clients share."""

    def __init__(self, host: str, port: int, ssl: bool, headers: Optional[dict[str, str]],
                 settings: Optional[Settings], tenant: str, database: str) -> None:
        from chroma_frame.version import __version__

        self._settings = settings or Settings()
        if self._settings.chroma_server_host and self._settings.chroma_server_host != host:
            raise ValueError(f"Chroma server host provided in settings[{self._settings.chroma_server_host}] "
                             f"is different to the one provided in HttpClient: [{host}]")
        self._settings.chroma_server_host, self._settings.chroma_server_http_port = host, port
        self._url = base_url(host, port, ssl)
        self._headers = {"Content-Type": "application/json", "User-Agent": f"chroma-frame/{__version__}",
                         **(self._settings.chroma_server_headers or {}), **(headers or {}),
                         **auth_headers(self._settings)}
        self._core = _Core(tenant, database)
        self._pre_flight: Optional[dict[str, Any]] = None

    tenant = property(lambda self: self._core.tenant)
    database = property(lambda self: self._core.database)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self._url!r}, tenant={self.tenant!r}, database={self.database!r})"

    def get_settings(self) -> Settings:
        return self._settings

    def _verify(self) -> dict[str, Any]:
        """httpx's ``verify`` argument, when the settings give one."""
        verify = self._settings.chroma_server_ssl_verify
        return {} if verify is None else {"verify": verify}

    def _request_args(self, call: Call) -> dict[str, Any]:
        args: dict[str, Any] = {"params": call.params or None}
        if call.body is not None:
            args["content"] = orjson.dumps(call.body, option=orjson.OPT_SERIALIZE_NUMPY)
        return args

    @staticmethod
    def _read(call: Call, response: httpx.Response) -> Any:
        raise_for_error(response.status_code, response.content, response.headers)
        return call.parse(orjson.loads(response.content) if response.content else None)

    def _bind(self, model: dict[str, Any], embedding_function: Any, on: str) -> Any:
        persisted = (model.get("configuration_json") or {}).get("embedding_function")
        return bind_embedding_function(persisted, embedding_function, on=on)  # type: ignore[arg-type]


class HttpClient(_ClientBase):
    """Chroma's ``ClientAPI`` over HTTP: ``HttpClient(host, port, ssl, headers, settings, tenant, database)``."""

    def __init__(self, host: str = "localhost", port: int = 8000, ssl: bool = False,
                 headers: Optional[dict[str, str]] = None, settings: Optional[Settings] = None,
                 tenant: str = DEFAULT_TENANT, database: str = DEFAULT_DATABASE) -> None:
        super().__init__(host, port, ssl, headers, settings, tenant, database)
        self._session = httpx.Client(base_url=self._url, headers=self._headers, timeout=None, **self._verify())
        self.get_user_identity()
        self.set_tenant(tenant, database)

    def _send(self, call: Call) -> Any:
        try:
            response = self._session.request(call.method, call.path, **self._request_args(call))
        except httpx.ConnectError as e:
            raise ValueError(_CONNECT_ERROR) from e
        return self._read(call, response)

    # -- system ------------------------------------------------------------------------------
    def heartbeat(self) -> int:
        return self._send(self._core.heartbeat())

    def get_version(self) -> str:
        return self._send(self._core.version())

    def get_user_identity(self) -> dict[str, Any]:
        return self._send(self._core.identity())

    def get_pre_flight_checks(self) -> dict[str, Any]:
        if self._pre_flight is None:
            self._pre_flight = self._send(self._core.pre_flight())
        return self._pre_flight

    def get_max_batch_size(self) -> int:
        return int(self.get_pre_flight_checks().get("max_batch_size", -1))

    def reset(self) -> bool:
        return self._send(self._core.reset())

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> "HttpClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- tenants and databases ---------------------------------------------------------------
    def set_tenant(self, tenant: str, database: str = DEFAULT_DATABASE) -> None:
        self.get_tenant(tenant)
        self.get_database(database, tenant)
        self._core.tenant, self._core.database = tenant, database

    def set_database(self, database: str) -> None:
        self.get_database(database, self.tenant)
        self._core.database = database

    def create_tenant(self, name: str) -> None:
        self._send(self._core.create_tenant(name))

    def get_tenant(self, name: str) -> dict[str, str]:
        return self._send(self._core.get_tenant(name))

    def create_database(self, name: str, tenant: str = DEFAULT_TENANT) -> None:
        self._send(self._core.create_database(name, tenant))

    def get_database(self, name: str, tenant: str = DEFAULT_TENANT) -> dict[str, Any]:
        return self._send(self._core.get_database(name, tenant))

    def delete_database(self, name: str, tenant: str = DEFAULT_TENANT) -> None:
        self._send(self._core.delete_database(name, tenant))

    def list_databases(self, limit: Optional[int] = None, offset: Optional[int] = None,
                       tenant: str = DEFAULT_TENANT) -> list[dict[str, Any]]:
        return self._send(self._core.list_databases(limit, offset, tenant))

    # -- collections -------------------------------------------------------------------------
    def _collection(self, model: dict[str, Any], embedding_function: Any, data_loader: Any = None,
                    on: str = "get") -> HttpCollection:
        return HttpCollection(self, model, self._bind(model, embedding_function, on), data_loader)

    def count_collections(self) -> int:
        return self._send(self._core.count_collections())

    def list_collections(self, limit: Optional[int] = None, offset: Optional[int] = None) -> list[HttpCollection]:
        return [self._collection(m, DEFAULT) for m in self._send(self._core.list_collections(limit, offset))]

    def create_collection(self, name: str, schema: Any = None, configuration: Optional[dict] = None,
                          metadata: Optional[dict] = None, embedding_function: Any = DEFAULT,
                          data_loader: Any = None, get_or_create: bool = False) -> HttpCollection:
        model = self._send(self._core.create_collection(name, configuration, metadata, embedding_function,
                                                        get_or_create, schema))
        return self._collection(model, embedding_function, data_loader, on="create")

    def get_or_create_collection(self, name: str, schema: Any = None, configuration: Optional[dict] = None,
                                 metadata: Optional[dict] = None, embedding_function: Any = DEFAULT,
                                 data_loader: Any = None) -> HttpCollection:
        return self.create_collection(name, schema, configuration, metadata, embedding_function, data_loader,
                                      get_or_create=True)

    def get_collection(self, name: str, embedding_function: Any = DEFAULT, data_loader: Any = None) -> HttpCollection:
        return self._collection(self._send(self._core.get_collection(name)), embedding_function, data_loader)

    def get_collection_by_id(self, id: Any, embedding_function: Any = DEFAULT,
                             data_loader: Any = None) -> HttpCollection:
        return self._collection(self._send(self._core.get_collection_by_id(id)), embedding_function, data_loader)

    def delete_collection(self, name: str) -> None:
        self._send(self._core.delete_collection(name))


class AsyncClient(_ClientBase):
    """The async twin of :class:`HttpClient`; build it with ``await AsyncHttpClient(...)``."""

    def __init__(self, host: str = "localhost", port: int = 8000, ssl: bool = False,
                 headers: Optional[dict[str, str]] = None, settings: Optional[Settings] = None,
                 tenant: str = DEFAULT_TENANT, database: str = DEFAULT_DATABASE) -> None:
        super().__init__(host, port, ssl, headers, settings, tenant, database)
        self._session = httpx.AsyncClient(base_url=self._url, headers=self._headers, timeout=None,
                                          **self._verify())

    async def _send(self, call: Call) -> Any:
        try:
            response = await self._session.request(call.method, call.path, **self._request_args(call))
        except httpx.ConnectError as e:
            raise ValueError(_CONNECT_ERROR) from e
        return self._read(call, response)

    # -- system ------------------------------------------------------------------------------
    async def heartbeat(self) -> int:
        return await self._send(self._core.heartbeat())

    async def get_version(self) -> str:
        return await self._send(self._core.version())

    async def get_user_identity(self) -> dict[str, Any]:
        return await self._send(self._core.identity())

    async def get_pre_flight_checks(self) -> dict[str, Any]:
        if self._pre_flight is None:
            self._pre_flight = await self._send(self._core.pre_flight())
        return self._pre_flight

    async def get_max_batch_size(self) -> int:
        return int((await self.get_pre_flight_checks()).get("max_batch_size", -1))

    async def reset(self) -> bool:
        return await self._send(self._core.reset())

    async def close(self) -> None:
        await self._session.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # -- tenants and databases ---------------------------------------------------------------
    async def set_tenant(self, tenant: str, database: str = DEFAULT_DATABASE) -> None:
        await self.get_tenant(tenant)
        await self.get_database(database, tenant)
        self._core.tenant, self._core.database = tenant, database

    async def set_database(self, database: str) -> None:
        await self.get_database(database, self.tenant)
        self._core.database = database

    async def create_tenant(self, name: str) -> None:
        await self._send(self._core.create_tenant(name))

    async def get_tenant(self, name: str) -> dict[str, str]:
        return await self._send(self._core.get_tenant(name))

    async def create_database(self, name: str, tenant: str = DEFAULT_TENANT) -> None:
        await self._send(self._core.create_database(name, tenant))

    async def get_database(self, name: str, tenant: str = DEFAULT_TENANT) -> dict[str, Any]:
        return await self._send(self._core.get_database(name, tenant))

    async def delete_database(self, name: str, tenant: str = DEFAULT_TENANT) -> None:
        await self._send(self._core.delete_database(name, tenant))

    async def list_databases(self, limit: Optional[int] = None, offset: Optional[int] = None,
                             tenant: str = DEFAULT_TENANT) -> list[dict[str, Any]]:
        return await self._send(self._core.list_databases(limit, offset, tenant))

    # -- collections -------------------------------------------------------------------------
    def _collection(self, model: dict[str, Any], embedding_function: Any, data_loader: Any = None,
                    on: str = "get") -> AsyncHttpCollection:
        return AsyncHttpCollection(self, model, self._bind(model, embedding_function, on), data_loader)

    async def count_collections(self) -> int:
        return await self._send(self._core.count_collections())

    async def list_collections(self, limit: Optional[int] = None,
                               offset: Optional[int] = None) -> list[AsyncHttpCollection]:
        models = await self._send(self._core.list_collections(limit, offset))
        return [self._collection(m, DEFAULT) for m in models]

    async def create_collection(self, name: str, schema: Any = None, configuration: Optional[dict] = None,
                                metadata: Optional[dict] = None, embedding_function: Any = DEFAULT,
                                data_loader: Any = None, get_or_create: bool = False) -> AsyncHttpCollection:
        model = await self._send(self._core.create_collection(name, configuration, metadata, embedding_function,
                                                              get_or_create, schema))
        return self._collection(model, embedding_function, data_loader, on="create")

    async def get_or_create_collection(self, name: str, schema: Any = None, configuration: Optional[dict] = None,
                                       metadata: Optional[dict] = None, embedding_function: Any = DEFAULT,
                                       data_loader: Any = None) -> AsyncHttpCollection:
        return await self.create_collection(name, schema, configuration, metadata, embedding_function,
                                            data_loader, get_or_create=True)

    async def get_collection(self, name: str, embedding_function: Any = DEFAULT,
                             data_loader: Any = None) -> AsyncHttpCollection:
        return self._collection(await self._send(self._core.get_collection(name)), embedding_function,
                                data_loader)

    async def get_collection_by_id(self, id: Any, embedding_function: Any = DEFAULT,
                                   data_loader: Any = None) -> AsyncHttpCollection:
        return self._collection(await self._send(self._core.get_collection_by_id(id)), embedding_function,
                                data_loader)

    async def delete_collection(self, name: str) -> None:
        await self._send(self._core.delete_collection(name))


async def AsyncHttpClient(host: str = "localhost", port: int = 8000, ssl: bool = False,
                          headers: Optional[dict[str, str]] = None, settings: Optional[Settings] = None,
                          tenant: str = DEFAULT_TENANT, database: str = DEFAULT_DATABASE) -> AsyncClient:
    """``await AsyncHttpClient(...)``: an :class:`AsyncClient` after Chroma's start-up checks."""
    client = AsyncClient(host, port, ssl, headers, settings, tenant, database)
    await client.get_user_identity()
    await client.set_tenant(tenant, database)
    return client


__all__ = ["AsyncClient", "AsyncHttpClient", "AsyncHttpCollection", "Call", "HttpClient", "HttpCollection"]
