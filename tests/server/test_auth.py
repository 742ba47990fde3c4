"""Token and basic auth: right credentials pass, wrong or missing ones get 401/403 and write nothing."""

from __future__ import annotations

import base64

import httpx
import pytest

chromadb = pytest.importorskip("chromadb")
from chromadb import errors as cerr  # noqa: E402
from chromadb.config import Settings as ChromaSettings  # noqa: E402

from tests.server.conftest import chroma_client  # noqa: E402

TOKEN = "s3cr3t-token"
COLLECTIONS = "/api/v2/tenants/default_tenant/databases/default_database/collections"


@pytest.fixture(scope="module")
def token_server(server_factory):
    return server_factory("--auth-provider", "token", "--auth-credentials", TOKEN)


@pytest.fixture(scope="module")
def basic_server(server_factory):
    return server_factory(env={"CHROMA_SERVER_AUTHN_PROVIDER": "chromadb.auth.basic_authn.BasicAuthenticationServerProvider",
                               "CHROMA_SERVER_AUTHN_CREDENTIALS": "alice:wonderland"})


def _count(server, headers) -> int:
    return httpx.get(server.url + "/api/v2/tenants/default_tenant/databases/default_database/collections_count",
                     headers=headers).json()


@pytest.mark.parametrize("transport", ["Authorization", "X-Chroma-Token"])
def test_token_client_works(token_server, transport):
    client = chroma_client(token_server, settings=ChromaSettings(
        chroma_client_auth_provider="chromadb.auth.token_authn.TokenAuthClientProvider",
        chroma_client_auth_credentials=TOKEN, chroma_auth_token_transport_header=transport))
    col = client.get_or_create_collection(f"auth-{transport.lower()}", embedding_function=None)
    col.add(ids=["a"], embeddings=[[1.0, 2.0]])
    assert col.count() == 1


def test_missing_and_wrong_token_are_refused_and_write_nothing(token_server):
    good = {"Authorization": f"Bearer {TOKEN}"}
    before = _count(token_server, good)
    body = {"name": "should-not-exist"}
    missing = httpx.post(token_server.url + COLLECTIONS, json=body)
    assert missing.status_code == 401 and missing.json()["error"] == "AuthorizationError"
    for headers in ({"Authorization": "Bearer wrong"}, {"X-Chroma-Token": "wrong"},
                    {"Authorization": f"Basic {TOKEN}"}):
        wrong = httpx.post(token_server.url + COLLECTIONS, json=body, headers=headers)
        assert wrong.status_code == 403, headers
        assert wrong.json() == {"error": "AuthError", "message": "Forbidden"}
    assert _count(token_server, good) == before
    assert httpx.get(token_server.url + COLLECTIONS + "/should-not-exist", headers=good).status_code == 404


def test_official_client_without_token_raises(token_server):
    with pytest.raises(Exception):
        chroma_client(token_server)  # its start-up identity check is refused
    with pytest.raises(cerr.ChromaAuthError):
        chroma_client(token_server, settings=ChromaSettings(
            chroma_client_auth_provider="chromadb.auth.token_authn.TokenAuthClientProvider",
            chroma_client_auth_credentials="not-the-token"))


def test_heartbeat_and_version_stay_public(token_server):
    assert httpx.get(token_server.url + "/api/v2/heartbeat").status_code == 200
    assert httpx.get(token_server.url + "/api/v2/version").status_code == 200
    assert httpx.get(token_server.url + "/api/v2/pre-flight-checks").status_code == 401


def test_basic_auth_from_chroma_env_vars(basic_server):
    client = chroma_client(basic_server, settings=ChromaSettings(
        chroma_client_auth_provider="chromadb.auth.basic_authn.BasicAuthClientProvider",
        chroma_client_auth_credentials="alice:wonderland"))
    assert client.get_user_identity().user_id == "alice"
    client.get_or_create_collection("basic-ok", embedding_function=None)
    wrong = base64.b64encode(b"alice:queen").decode()
    r = httpx.post(basic_server.url + COLLECTIONS, json={"name": "basic-bad"}, headers={"Authorization": f"Basic {wrong}"})
    assert r.status_code == 403
    assert httpx.post(basic_server.url + COLLECTIONS, json={"name": "basic-bad"}).status_code == 401
    assert [c.name for c in client.list_collections()] == ["basic-ok"]


def test_yaml_credentials_file_and_transport_header_from_chroma_env_vars(server_factory, tmp_path):
    creds = tmp_path / "users.yaml"
    creds.write_text("users:\n  - id: bob\n    tokens: [bob-token-1, bob-token-2]\n")
    srv = server_factory(env={"CHROMA_SERVER_AUTHN_PROVIDER": "chromadb.auth.token_authn.TokenAuthenticationServerProvider",
                              "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(creds),
                              "CHROMA_AUTH_TOKEN_TRANSPORT_HEADER": "X-Chroma-Token"})
    identity = httpx.get(srv.url + "/api/v2/auth/identity", headers={"X-Chroma-Token": "bob-token-2"})
    assert identity.status_code == 200 and identity.json()["user_id"] == "bob"
    # the token is only read from the configured header
    assert httpx.get(srv.url + "/api/v2/auth/identity", headers={"Authorization": "Bearer bob-token-1"}).status_code == 401


def test_record_endpoints_are_refused_without_credentials(token_server):
    good = {"Authorization": f"Bearer {TOKEN}"}
    cid = httpx.post(token_server.url + COLLECTIONS, json={"name": "guarded"}, headers=good).json()["id"]
    records = f"{token_server.url}{COLLECTIONS}/{cid}"
    assert httpx.post(records + "/add", json={"ids": ["a"], "embeddings": [[1.0, 2.0]]}, headers=good).status_code == 201
    for headers, status in (({}, 401), ({"Authorization": "Bearer wrong"}, 403)):
        add = httpx.post(records + "/add", json={"ids": ["b"], "embeddings": [[3.0, 4.0]]}, headers=headers)
        assert add.status_code == status
        query = httpx.post(records + "/query", json={"query_embeddings": [[1.0, 2.0]], "n_results": 1},
                           headers=headers)
        assert query.status_code == status and "ids" not in query.json()
        assert httpx.post(records + "/get", json={}, headers=headers).status_code == status
    assert httpx.post(records + "/get", json={}, headers=good).json()["ids"] == ["a"]
