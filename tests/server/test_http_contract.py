"""Raw HTTP: Chroma's status codes and error bodies, request limits, reset, and no leaked tracebacks."""

from __future__ import annotations

import base64
import struct
import uuid

import httpx
import numpy as np
import pytest

from tests.server.conftest import chroma_client

V2 = "/api/v2"
C = V2 + "/tenants/default_tenant/databases/default_database/collections"


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url) as c:
        yield c


@pytest.fixture(scope="module")
def collection_id(http):
    r = http.post(C, json={"name": "contract", "get_or_create": True})
    assert r.status_code == 200, r.text
    return r.json()["id"]


def _error(r: httpx.Response, status: int, error: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "message"} and body["error"] == error, body
    return body["message"]


def test_system_shapes(http):
    assert set(http.get(V2 + "/heartbeat").json()) == {"nanosecond heartbeat"}
    assert http.get(V2).status_code == 200
    assert http.get(V2 + "/pre-flight-checks").json() == {"max_batch_size": 5461, "supports_base64_encoding": True}
    assert http.get(V2 + "/healthcheck").json() == {"is_executor_ready": True, "is_log_client_ready": True}
    assert http.get(V2 + "/auth/identity").json() == {"user_id": "", "tenant": "default_tenant",
                                                      "databases": ["default_database"]}
    assert http.get(V2 + "/tenants/default_tenant").json() == {"name": "default_tenant", "resource_name": None}
    spec = http.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert V2 + "/tenants/{tenant}/databases/{database}/collections/{collection_id}/query" in spec["paths"]


def test_collection_json_shape(http, collection_id):
    body = http.get(f"{C}/by-id/{collection_id}").json()
    assert {"id", "name", "configuration_json", "schema", "metadata", "dimension", "tenant", "database",
            "log_position", "version"} <= set(body)
    assert http.get(f"{C}/contract").json()["id"] == collection_id
    _error(http.get(f"{C}/{collection_id}"), 404, "NotFoundError")  # the name route does not take ids
    _error(http.get(f"{C}/by-id/not-a-uuid"), 400, "InvalidArgumentError")


def test_base64_little_endian_f32_embeddings(http, collection_id):
    vec = [0.1, -2.5, 3.0]
    packed = base64.b64encode(struct.pack("<3f", *vec)).decode()
    r = http.post(f"{C}/{collection_id}/add", json={"ids": ["b64"], "embeddings": [packed]})
    assert r.status_code == 201 and r.json() == {}
    got = http.post(f"{C}/{collection_id}/get", json={"ids": ["b64"], "include": ["embeddings"]}).json()
    assert np.array_equal(np.asarray(got["embeddings"], dtype=np.float32), np.asarray([vec], dtype=np.float32))
    assert got["include"] == ["embeddings"] and got["documents"] is None
    r = http.post(f"{C}/{collection_id}/add", json={"ids": ["f"], "embeddings": [[1, 2, 3]]})
    assert r.status_code == 201
    _error(http.post(f"{C}/{collection_id}/add", json={"ids": ["bad"], "embeddings": ["AAA"]}),
           400, "InvalidArgumentError")
    q = http.post(f"{C}/{collection_id}/query", json={"query_embeddings": [[1, 2, 3]], "n_results": 1}).json()
    assert q["ids"] == [["f"]] and q["distances"] == [[0.0]]
    assert http.get(f"{C}/{collection_id}/count", params={"read_level": "index_and_wal"}).json() == 2


def test_malformed_bodies(http, collection_id):
    msg = _error(http.post(C, content=b"{bad", headers={"content-type": "application/json"}), 400,
                 "InvalidArgumentError")
    assert msg.startswith("Failed to parse the request body as JSON")
    msg = _error(http.post(C, json={"nam": "x"}), 422, "ChromaError")
    assert msg.startswith("Failed to deserialize the JSON body")
    _error(http.post(f"{C}/{collection_id}/add", json={"ids": ["x"]}), 422, "ChromaError")
    _error(http.post(f"{C}/{collection_id}/add", json={"ids": "x", "embeddings": [[1, 2, 3]]}), 422, "ChromaError")
    _error(http.post(f"{C}/{collection_id}/get", json={"limit": -1}), 422, "ChromaError")
    _error(http.post(f"{C}/{collection_id}/get", json={"include": ["foo"]}), 422, "ChromaError")
    _error(http.post(f"{C}/{collection_id}/add", json={"ids": ["m"], "embeddings": [[1, 2, 3]],
                                                       "metadatas": [{"k": {"nested": 1}}]}), 422, "ChromaError")
    _error(http.post(C, content=b'{"name": "abc"}'), 415, "ChromaError")
    _error(http.get(V2 + "/tenants/default_tenant/databases", params={"limit": "abc"}), 400, "InvalidArgumentError")


def test_library_errors_map_to_chroma_statuses(http, collection_id):
    missing = str(uuid.uuid4())
    assert "does not exist" in _error(http.post(f"{C}/{missing}/get", json={}), 404, "NotFoundError")
    _error(http.get(f"{C}/{missing}/count"), 404, "NotFoundError")
    _error(http.post(f"{C}/not-a-uuid/get", json={}), 400, "InvalidArgumentError")
    _error(http.post(f"{C}/{collection_id}/get", json={"where": {"$bad": 1}}), 400, "InvalidArgumentError")
    _error(http.post(f"{C}/{collection_id}/add", json={"ids": ["d"], "embeddings": [[1, 2]]}), 400,
           "InvalidArgumentError")
    assert "already exists" in _error(http.post(C, json={"name": "contract"}), 409, "ChromaError")
    assert "already exists" in _error(http.post(V2 + "/tenants", json={"name": "default_tenant"}), 409, "ChromaError")
    _error(http.get(V2 + "/tenants/nope-nope"), 404, "NotFoundError")
    _error(http.get(V2 + "/tenants/default_tenant/databases/nope-nope"), 404, "NotFoundError")
    forked = http.post(f"{C}/{collection_id}/fork", json={"new_name": "forked"})
    assert forked.status_code == 200 and forked.json()["name"] == "forked", forked.text
    assert http.get(f"{C}/{collection_id}/fork_count").json() == {"count": 1}
    assert "already exists" in _error(http.post(f"{C}/{collection_id}/fork", json={"new_name": "forked"}), 409,
                                      "ChromaError")
    _error(http.get(V2 + "/no/such/route"), 404, "NotFoundError")
    assert http.get("/api/v1/heartbeat").json() == {"error": "Unimplemented",
                                                    "message": "The v1 API is deprecated. Please use /v2 apis"}


def test_reset_allowed(server):
    client = chroma_client(server)
    client.get_or_create_collection("to-be-reset", embedding_function=None)
    assert client.reset() is True
    assert client.list_collections() == []


def test_reset_refused_without_flag(server_factory):
    import chromadb.errors as cerr

    locked = server_factory()
    client = chroma_client(locked)
    client.get_or_create_collection("kept", embedding_function=None)
    with pytest.raises(cerr.ChromaError, match="Reset is disabled by config"):
        client.reset()
    assert [c.name for c in client.list_collections()] == ["kept"]


def test_reset_allowed_by_chroma_env_var(server_factory):
    client = chroma_client(server_factory(env={"ALLOW_RESET": "TRUE"}))
    assert client.reset() is True


def test_body_and_batch_limits(server_factory):
    small = server_factory("--max-body-bytes", "2000", "--max-batch-size", "10")
    with httpx.Client(base_url=small.url) as http:
        cid = http.post(C, json={"name": "limits"}).json()["id"]
        assert http.get(V2 + "/pre-flight-checks").json()["max_batch_size"] == 10
        big = {"ids": ["x"], "embeddings": [[0.5] * 1000]}
        _error(http.post(f"{C}/{cid}/add", json=big), 413, "ChromaError")

        def chunks():
            yield b'{"ids": ["y"], "embeddings": [['
            yield b"0.5," * 1000
            yield b"0.5]]}"

        _error(http.post(f"{C}/{cid}/add", content=chunks(), headers={"content-type": "application/json"}),
               413, "ChromaError")
        many = {"ids": [f"i{i}" for i in range(11)], "embeddings": [[1.0]] * 11}
        _error(http.post(f"{C}/{cid}/add", json=many), 413, "BatchSizeExceededError")
        assert http.get(f"{C}/{cid}/count").json() == 0


def test_unexpected_errors_do_not_leak(tmp_path):
    """A 5xx carries a fixed message: no exception text, no traceback."""
    from starlette.testclient import TestClient

    from chroma_frame.server import ServerConfig, create_app

    app = create_app(ServerConfig(path=str(tmp_path / "db")))
    inner = app
    while not hasattr(inner, "state"):  # through the ASGI layers to the FastAPI app
        inner = inner.app
    service = inner.state.service

    def boom(*args, **kwargs):
        raise RuntimeError("secret detail /etc/passwd")

    service.count_collections = service.query = boom
    with TestClient(app, raise_server_exceptions=False) as tc:
        counted = tc.get(V2 + "/tenants/default_tenant/databases/default_database/collections_count")
        queried = tc.post(f"{C}/{uuid.uuid4()}/query", json={"query_embeddings": [[1.0]]})
    for r in (counted, queried):
        assert r.status_code == 500
        assert r.json() == {"error": "InternalError", "message": "Internal server error"}
        assert "secret" not in r.text and "Traceback" not in r.text


def test_query_answers_and_errors(http):
    """The hot path for queries answers exactly as the route does, errors included."""
    collection_id = http.post(C, json={"name": "query-contract"}).json()["id"]
    q = f"{C}/{collection_id}/query"
    http.post(f"{C}/{collection_id}/upsert", json={"ids": ["q1", "q2"], "embeddings": [[1, 0, 0], [0, 1, 0]],
                                                   "metadatas": [{"k": 1}, None], "documents": ["one", None]})
    r = http.post(q, json={"query_embeddings": [[1, 0, 0]], "n_results": 2, "where": {"k": 1},
                           "include": ["documents", "metadatas", "distances", "uris"]})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == {"ids": [["q1"]], "embeddings": None, "documents": [["one"]], "uris": [[None]],
                        "metadatas": [[{"k": 1}]], "distances": [[0.0]],
                        "include": ["documents", "metadatas", "distances", "uris"]}
    json_type = {"content-type": "application/json"}
    assert _error(http.post(q, content=b'{"query_embeddings": [[1, 0', headers=json_type), 400,
                  "InvalidArgumentError").startswith("Failed to parse the request body as JSON")
    _error(http.post(q, content=b"[1, 2]", headers=json_type), 422, "ChromaError")
    _error(http.post(q, json={"query_embeddings": "nope"}), 422, "ChromaError")
    _error(http.post(q, json={"query_embeddings": [[1, 0, 0]], "n_results": -1}), 422, "ChromaError")
    _error(http.post(q, content=b'{"query_embeddings": [[1, 0, 0]]}'), 415, "ChromaError")
    _error(http.post(q, json={"query_embeddings": [[1, 0]]}), 400, "InvalidArgumentError")
    _error(http.post(q, json={"query_embeddings": [[1, 0, 0]], "where": {"$nope": 1}}), 400, "InvalidArgumentError")
    _error(http.post(f"{C}/{uuid.uuid4()}/query", json={"query_embeddings": [[1, 0, 0]]}), 404, "NotFoundError")
    _error(http.post(f"{C}/not-a-uuid/query", json={"query_embeddings": [[1, 0, 0]]}), 400, "InvalidArgumentError")


def test_cors_headers_when_origins_are_allowed(server_factory):
    srv = server_factory("--cors-allow-origins", "http://app.example")
    with httpx.Client(base_url=srv.url) as http:
        cid = http.post(C, json={"name": "cors"}).json()["id"]
        origin = {"Origin": "http://app.example"}
        r = http.post(f"{C}/{cid}/query", json={"query_embeddings": [[1.0]]}, headers=origin)
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "http://app.example"
        pre = http.options(f"{C}/{cid}/query", headers={**origin, "Access-Control-Request-Method": "POST"})
        assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "http://app.example"
        other = http.get(V2 + "/heartbeat", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_query_fast_path_answers_byte_for_byte_as_the_route(tmp_path):
    from starlette.testclient import TestClient

    from chroma_frame.server import ServerConfig, create_app
    from chroma_frame.server.fastpath import QueryFastPath

    app = create_app(ServerConfig(path=str(tmp_path / "db")))
    outer = app
    while not isinstance(outer.app, QueryFastPath):
        outer = outer.app
    bodies = [{"query_embeddings": [[1, 2], [0.3, 0.1]], "n_results": 5,
               "include": ["embeddings", "documents", "metadatas", "distances", "uris"]},
              {"query_embeddings": [[1, 2]]}, {"query_embeddings": [[1, 2]], "ids": ["b"], "where": {"x": 1.5}},
              {"query_embeddings": [[1, 2, 3]]}, {"query_embeddings": [[1, 2]], "n_results": "many"}]
    with TestClient(app) as tc:
        cid = tc.post(C, json={"name": "same"}).json()["id"]
        tc.post(f"{C}/{cid}/add", json={"ids": ["a", "b"], "embeddings": [[1, 2], [3, 4]],
                                        "metadatas": [{"x": 1.5}, None], "documents": ["d", None]})
        fast = [tc.post(f"{C}/{cid}/query", json=b) for b in bodies]
        outer.app = outer.app.app  # the FastAPI route alone
        routed = [tc.post(f"{C}/{cid}/query", json=b) for b in bodies]
    assert [r.status_code for r in fast] == [200, 200, 200, 400, 422]
    for a, b in zip(fast, routed):
        assert (a.status_code, _headers(a), a.content) == (b.status_code, _headers(b), b.content)
        assert ("chroma-trace-id" in a.headers) == (a.status_code >= 400)


def _headers(response) -> dict:
    """Every header but the trace id, which is fresh per error."""
    return {k: v for k, v in response.headers.items() if k != "chroma-trace-id"}
