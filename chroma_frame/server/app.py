"""Chroma's REST API v2 routes over :class:`~chroma_frame.server.service.Service`.

Every handler parses the request (pydantic), then runs one service call and the JSON encoding
in the thread pool, so the event loop never waits on the library.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional

import orjson
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from chroma_frame.server import errors, telemetry
from chroma_frame.server import schemas as s
from chroma_frame.server.auth import AuthMiddleware, build_authenticator
from chroma_frame.server.codec import dumps
from chroma_frame.server.config import ServerConfig
from chroma_frame.server.deadline import within_deadline
from chroma_frame.server.errors import HTTPError, as_http_error
from chroma_frame.server.fastpath import QueryFastPath
from chroma_frame.server.limits import BodyLimitMiddleware
from chroma_frame.server.service import Service

C = "/tenants/{tenant}/databases/{database}/collections"
_JSON = "application/json"
_ERRORS: dict[int | str, Any] = {code: {"model": s.ErrorResponse} for code in (400, 401, 403, 404, 409, 413, 422, 500)}


def _ok(model: Any, links: Optional[dict[str, Any]] = None) -> dict[int | str, Any]:
    ok: dict[str, Any] = {"model": model}
    if links:
        ok["links"] = links
    return {200: ok, **_ERRORS}


_BY_ID = {"tenant": "$request.path.tenant", "database": "$request.path.database", "collection_id": "$response.body#/id"}
# OpenAPI links: a created collection's id feeds the record endpoints (for clients and fuzzers)
COLLECTION_LINKS = {
    op: {"operationId": op, "parameters": _BY_ID}
    for op in ("get_collection_by_id", "update_collection", "collection_add", "collection_upsert",
               "collection_update", "collection_delete", "collection_count", "collection_get", "collection_query",
               "collection_search")
}


async def call(fn: Callable[..., Any], *args: Any, status: int = 200, deadline: float = 0.0) -> Response:
    """Run ``fn(*args)`` and its JSON encoding off the event loop; map its errors.

    With a ``deadline`` (seconds) the request is answered with an error when it runs longer (see
    :func:`within_deadline`).
    """
    try:
        body = await within_deadline(lambda: dumps(fn(*args)), deadline)
    except Exception as exc:  # noqa: BLE001 - mapped to Chroma's error bodies
        raise as_http_error(exc) from None
    return Response(body, status_code=status, media_type=_JSON)


_INLINE_JSON_BYTES = 64 * 1024


class _OffLoopJSONRequest(Request):
    """Parses JSON bodies with orjson, large ones in the thread pool (never stalling the loop)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            if len(body) > _INLINE_JSON_BYTES:
                self._json = await run_in_threadpool(orjson.loads, body)
            else:
                self._json = orjson.loads(body)  # orjson.JSONDecodeError is a json.JSONDecodeError
        return self._json


class _Route(APIRoute):
    def get_route_handler(self) -> Callable[..., Any]:
        handler = super().get_route_handler()

        async def off_loop_json(request: Request) -> Response:
            return await handler(_OffLoopJSONRequest(request.scope, request.receive))

        return off_loop_json


def _unsupported(message: str) -> Callable[..., Any]:
    async def handler() -> Response:
        raise HTTPError(501, "ChromaError", message)

    return handler


def _routes(svc: Service) -> APIRouter:  # noqa: C901 - one short function per endpoint
    r = APIRouter(prefix="/api/v2", route_class=_Route)
    U32 = functools.partial(Query, default=None, ge=0, le=2**32 - 1)

    # -- system ------------------------------------------------------------------------------
    @r.get("", responses=_ok(s.HeartbeatResponse), include_in_schema=False)
    @r.get("/heartbeat", responses=_ok(s.HeartbeatResponse), operation_id="heartbeat")
    async def heartbeat() -> Response:
        return Response(dumps(svc.heartbeat()), media_type=_JSON)

    @r.get("/version", responses=_ok(str), operation_id="version")
    async def version() -> Response:
        return Response(dumps(svc.version()), media_type=_JSON)

    @r.get("/healthcheck", responses=_ok(s.HealthcheckResponse), operation_id="healthcheck")
    async def healthcheck() -> Response:
        return Response(dumps({"is_executor_ready": True, "is_log_client_ready": True}), media_type=_JSON)

    @r.get("/pre-flight-checks", responses=_ok(s.ChecklistResponse), operation_id="pre_flight_checks")
    async def pre_flight_checks() -> Response:
        return Response(dumps(svc.pre_flight()), media_type=_JSON)

    @r.get("/auth/identity", responses=_ok(s.GetUserIdentityResponse), operation_id="get_user_identity")
    async def identity(request: Request) -> Response:
        who = request.scope.get("state", {}).get("identity")
        return await call(svc.identity, who.user_id if who else "")

    @r.post("/reset", responses=_ok(bool), operation_id="reset")
    async def reset() -> Response:
        return await call(svc.reset)

    # -- tenants and databases ---------------------------------------------------------------
    @r.post("/tenants", responses=_ok(s.Empty), operation_id="create_tenant")
    async def create_tenant(body: s.CreateTenantPayload) -> Response:
        return await call(svc.create_tenant, body)

    @r.get("/tenants/{tenant_name}", responses=_ok(s.GetTenantResponse), operation_id="get_tenant")
    async def get_tenant(tenant_name: str) -> Response:
        return await call(svc.get_tenant, tenant_name)

    @r.get("/tenants/{tenant}/databases", responses=_ok(list[s.Database]), operation_id="list_databases")
    async def list_databases(tenant: str, limit: Optional[int] = U32(), offset: Optional[int] = U32()) -> Response:
        return await call(svc.list_databases, tenant, limit, offset)

    @r.post("/tenants/{tenant}/databases", responses=_ok(s.Empty), operation_id="create_database")
    async def create_database(tenant: str, body: s.CreateDatabasePayload) -> Response:
        return await call(svc.create_database, tenant, body)

    @r.get("/tenants/{tenant}/databases/{database}", responses=_ok(s.Database), operation_id="get_database")
    async def get_database(tenant: str, database: str) -> Response:
        return await call(svc.get_database, tenant, database)

    @r.delete("/tenants/{tenant}/databases/{database}", responses=_ok(s.Empty), operation_id="delete_database")
    async def delete_database(tenant: str, database: str) -> Response:
        return await call(svc.delete_database, tenant, database)

    # -- collections -------------------------------------------------------------------------
    @r.get(C, responses=_ok(list[s.Collection]), operation_id="list_collections")
    async def list_collections(tenant: str, database: str, limit: Optional[int] = U32(),
                               offset: Optional[int] = U32()) -> Response:
        return await call(svc.list_collections, tenant, database, limit, offset)

    @r.post(C, responses=_ok(s.Collection, COLLECTION_LINKS), operation_id="create_collection")
    async def create_collection(tenant: str, database: str, body: s.CreateCollectionPayload) -> Response:
        return await call(svc.create_collection, tenant, database, body)

    @r.get("/tenants/{tenant}/databases/{database}/collections_count", responses=_ok(int),
           operation_id="count_collections")
    async def count_collections(tenant: str, database: str) -> Response:
        return await call(svc.count_collections, tenant, database)

    @r.get(C + "/by-id/{collection_id}", responses=_ok(s.Collection), operation_id="get_collection_by_id")
    async def get_collection_by_id(tenant: str, database: str, collection_id: str) -> Response:
        return await call(svc.get_collection_by_id, tenant, database, collection_id)

    @r.get(C + "/{collection_id}", responses=_ok(s.Collection), operation_id="get_collection",
           description="`collection_id` is the collection's **name** here, as in Chroma.")
    async def get_collection(tenant: str, database: str, collection_id: str) -> Response:
        return await call(svc.get_collection, tenant, database, collection_id)

    @r.put(C + "/{collection_id}", responses=_ok(s.Empty), operation_id="update_collection")
    async def update_collection(tenant: str, database: str, collection_id: str,
                                body: s.UpdateCollectionPayload) -> Response:
        return await call(svc.update_collection, tenant, database, collection_id, body)

    @r.delete(C + "/{collection_id}", responses=_ok(s.Empty), operation_id="delete_collection",
              description="`collection_id` is the collection's **name** here, as in Chroma.")
    async def delete_collection(tenant: str, database: str, collection_id: str) -> Response:
        return await call(svc.delete_collection, tenant, database, collection_id)

    # -- records -----------------------------------------------------------------------------
    @r.post(C + "/{collection_id}/add", status_code=201,
            responses={201: {"model": s.Empty}, **_ERRORS}, operation_id="collection_add")
    async def add(tenant: str, database: str, collection_id: str, body: s.AddCollectionRecordsPayload) -> Response:
        return await call(svc.write, "add", tenant, database, collection_id, body, status=201)

    @r.post(C + "/{collection_id}/upsert", responses=_ok(s.Empty), operation_id="collection_upsert")
    async def upsert(tenant: str, database: str, collection_id: str,
                     body: s.UpsertCollectionRecordsPayload) -> Response:
        return await call(svc.write, "upsert", tenant, database, collection_id, body)

    @r.post(C + "/{collection_id}/update", responses=_ok(s.Empty), operation_id="collection_update")
    async def update(tenant: str, database: str, collection_id: str,
                     body: s.UpdateCollectionRecordsPayload) -> Response:
        return await call(svc.write, "update", tenant, database, collection_id, body)

    @r.post(C + "/{collection_id}/delete", responses=_ok(s.DeleteCollectionRecordsResponse),
            operation_id="collection_delete")
    async def delete(tenant: str, database: str, collection_id: str,
                     body: s.DeleteCollectionRecordsPayload) -> Response:
        return await call(svc.delete, tenant, database, collection_id, body)

    @r.get(C + "/{collection_id}/count", responses=_ok(int), operation_id="collection_count")
    async def count(tenant: str, database: str, collection_id: str,
                    read_level: Optional[s.ReadLevel] = None) -> Response:
        return await call(svc.count, tenant, database, collection_id, read_level, deadline=svc.request_timeout)

    @r.post(C + "/{collection_id}/get", responses=_ok(s.GetResponse), operation_id="collection_get")
    async def get(tenant: str, database: str, collection_id: str, body: s.GetRequestPayload) -> Response:
        return await call(svc.get, tenant, database, collection_id, body, deadline=svc.request_timeout)

    @r.post(C + "/{collection_id}/query", responses=_ok(s.QueryResponse), operation_id="collection_query")
    async def query(tenant: str, database: str, collection_id: str, body: s.QueryRequestPayload) -> Response:
        return await call(svc.query, tenant, database, collection_id, body, deadline=svc.request_timeout)

    @r.post(C + "/{collection_id}/search", responses=_ok(s.SearchResponse), operation_id="collection_search")
    async def search(tenant: str, database: str, collection_id: str, body: s.SearchRequestPayload) -> Response:
        return await call(svc.search, tenant, database, collection_id, body, deadline=svc.request_timeout)

    # -- Chroma Cloud's fork (copy-on-write here too, see docs/storage.md "Versions") ---------
    @r.post(C + "/{collection_id}/fork", include_in_schema=False)
    async def fork(tenant: str, database: str, collection_id: str, body: s.ForkCollectionPayload) -> Response:
        return await call(svc.fork, tenant, database, collection_id, body.new_name)

    @r.get(C + "/{collection_id}/fork_count", include_in_schema=False)
    async def fork_count(tenant: str, database: str, collection_id: str) -> Response:
        return await call(svc.fork_count, tenant, database, collection_id)

    # -- Chroma Cloud / distributed only: Chroma's single-node server answers 501 too ---------

    @r.get(C + "/{collection_id}/indexing_status", include_in_schema=False)
    async def indexing_status(tenant: str, database: str, collection_id: str) -> Response:
        return await call(svc.indexing_status, tenant, database, collection_id)

    for method, path, message in (
        ("POST", C + "/{collection_id}/functions/attach", "Functions are unsupported for local chroma"),
        ("GET", C + "/{collection_id}/functions/{name}", "Functions are unsupported for local chroma"),
        ("POST", C + "/{collection_id}/attached_functions/{name}/detach", "Functions are unsupported for local chroma"),
        ("GET", "/collections/{crn}", "Collection CRNs are unsupported for local chroma"),
    ):
        r.add_api_route(path, _unsupported(message), methods=[method], include_in_schema=False)
    return r


def _v1_gone() -> APIRouter:
    r = APIRouter()

    @r.api_route("/api/v1/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                 include_in_schema=False)
    async def gone(rest: str) -> Response:
        raise HTTPError(410, "Unimplemented", "The v1 API is deprecated. Please use /v2 apis")

    return r


def create_app(config: ServerConfig) -> Any:
    """The ASGI application: telemetry (when configured) -> body limit -> auth -> FastAPI routes."""
    from chroma_frame.version import __version__

    app = FastAPI(title="chroma-frame", version=__version__,
                  description="Chroma's REST API v2, served by chroma-frame.",
                  openapi_url="/openapi.json", docs_url="/docs", redoc_url=None)
    service = Service(config)
    app.state.service = service
    errors.install(app)
    app.include_router(_routes(service))
    app.include_router(_v1_gone())
    if config.cors_allow_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_allow_origins),
                           allow_methods=["*"], allow_headers=["*"])
    asgi: Any = app
    if not config.cors_allow_origins:  # CORS headers come from the app's middleware
        asgi = QueryFastPath(app, service)
    authenticator = build_authenticator(config)
    if authenticator is not None:
        asgi = AuthMiddleware(asgi, authenticator)
    asgi = BodyLimitMiddleware(asgi, config.max_body_bytes)
    options = telemetry.options_of(config, service.settings)
    return telemetry.instrument(asgi, options) if options else asgi


__all__ = ["create_app"]
