"""chroma_frame.HttpClient and AsyncHttpClient: the embedded client's API against the server."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from chroma_frame import errors
from chroma_frame.config import Settings
from chroma_frame.http_client import AsyncHttpClient, Call, HttpClient, _CollectionCore, base_url


@pytest.fixture(scope="module")
def client(server):
    return HttpClient(host="127.0.0.1", port=server.port)


class TinyEF:
    """A deterministic embedding function: characters counted into 4 buckets."""

    def __call__(self, input):
        return [np.array([sum(1 for ch in t if ord(ch) % 4 == k) for k in range(4)], dtype=np.float32) for t in input]

    @staticmethod
    def name() -> str:
        return "tiny"

    def get_config(self) -> dict:
        return {}

    @staticmethod
    def build_from_config(config: dict) -> "TinyEF":
        return TinyEF()

    def is_legacy(self) -> bool:
        return False


def test_core_builds_requests_without_io():
    core = _CollectionCore({"id": "7f1b2e2a-0000-4000-8000-000000000000", "name": "c", "tenant": "t-1",
                            "database": "d-1", "configuration_json": {}}, None)
    call = core.write("add", 100, ["a"], [[1.0, 2.0]], None, None, None, None)
    assert isinstance(call, Call) and call.method == "POST"
    assert call.path == "/tenants/t-1/databases/d-1/collections/7f1b2e2a-0000-4000-8000-000000000000/add"
    assert call.body["embeddings"] == ["AACAPwAAAEA="]  # little-endian f32, base64
    with pytest.raises(ValueError, match="exceeds maximum batch size"):
        core.write("add", 1, ["a", "b"], [[1.0], [2.0]], None, None, None, None)
    with pytest.raises(errors.DuplicateIDError):
        core.write("add", 100, ["a", "a"], [[1.0], [2.0]], None, None, None, None)
    assert base_url("https://example.com/chroma", 1, False) == "https://example.com/chroma/api/v2"
    assert base_url("localhost", 8000, True) == "https://localhost:8000/api/v2"


def test_sync_client_full_cycle(client):
    assert client.heartbeat() > 0 and client.get_max_batch_size() == 5461
    client.create_database("http-db")
    assert client.get_database("http-db")["name"] == "http-db"
    assert "http-db" in [d["name"] for d in client.list_databases()]
    col = client.create_collection("http-col", metadata={"a": 1}, configuration={"hnsw": {"space": "ip"}},
                                   embedding_function=None)
    assert col.configuration_json["hnsw"]["space"] == "ip"
    emb = np.random.default_rng(0).random((10, 3), dtype=np.float32)
    col.add(ids=[str(i) for i in range(10)], embeddings=emb, metadatas=[{"i": i} for i in range(10)])
    assert col.count() == 10
    got = col.get(where={"i": {"$lt": 3}}, include=["embeddings", "metadatas"])
    assert got["ids"] == ["0", "1", "2"] and np.array_equal(got["embeddings"], emb[:3])
    res = col.query(query_embeddings=emb[4], n_results=1)
    assert res["ids"] == [["4"]] or len(res["ids"][0]) == 1
    col.upsert(ids=["0"], embeddings=emb[:1], metadatas=[{"j": 1}])
    assert col.get(ids=["0"])["metadatas"] == [{"i": 0, "j": 1}]
    col.update(ids=["1"], metadatas=[{"i": None, "k": "v"}])
    assert col.get(ids=["1"])["metadatas"] == [{"k": "v"}]
    assert col.delete(where={"i": {"$gte": 8}}) == {"deleted": 2}
    col.modify(name="http-col-2", metadata={"b": 2})
    assert col.name == "http-col-2" and col.metadata == {"b": 2}
    assert client.get_collection_by_id(col.id, embedding_function=None).count() == 8
    assert client.count_collections() >= 1
    client.delete_collection("http-col-2")
    with pytest.raises(errors.NotFoundError):
        client.get_collection("http-col-2", embedding_function=None)
    with pytest.raises(errors.ChromaError, match="already exists"):
        client.create_database("http-db")


def test_sync_client_embeds_with_its_function(client):
    col = client.get_or_create_collection("ef-col", embedding_function=TinyEF())
    assert col.configuration_json["embedding_function"]["name"] == "tiny"
    col.add(ids=["x", "y"], documents=["abcd", "zzzz"])
    res = col.query(query_texts=["abcd"], n_results=1, include=["documents"])
    assert res["documents"] == [["abcd"]]


def test_sync_client_errors(client, server):
    with pytest.raises(errors.NotFoundError):
        HttpClient(host="127.0.0.1", port=server.port, database="missing-db")
    with pytest.raises(ValueError, match="Could not connect"):
        HttpClient(host="127.0.0.1", port=1)
    with pytest.raises(ValueError, match="different"):
        HttpClient(host="127.0.0.1", port=server.port, settings=Settings(chroma_server_host="elsewhere"))


def test_async_client(server):
    async def main() -> None:
        client = await AsyncHttpClient(host="127.0.0.1", port=server.port)
        col = await client.get_or_create_collection("async-col", embedding_function=None)
        await col.add(ids=["a", "b"], embeddings=[[1.0, 0.0], [0.0, 1.0]], documents=["A", "B"])
        assert await col.count() == 2
        res, got = await asyncio.gather(col.query(query_embeddings=[[0.0, 1.0]], n_results=1), col.get(ids=["a"]))
        assert res["ids"] == [["b"]] and got["documents"] == ["A"]
        await col.modify(metadata={"m": 1})
        assert col.metadata == {"m": 1}
        assert "async-col" in [c.name for c in await client.list_collections()]
        await client.delete_collection("async-col")
        with pytest.raises(errors.NotFoundError):
            await client.get_collection("async-col")
        await client.close()

    asyncio.run(main())


def test_token_auth_through_settings(server_factory):
    srv = server_factory("--auth-provider", "token", "--auth-credentials", "tok", "--auth-token-header",
                         "X-Chroma-Token")
    ok = HttpClient(host="127.0.0.1", port=srv.port, settings=Settings(
        chroma_client_auth_provider="token", chroma_client_auth_credentials="tok",
        chroma_auth_token_transport_header="X-Chroma-Token"))
    assert ok.count_collections() == 0
    with pytest.raises(errors.AuthorizationError):  # Bearer is not read when the header is pinned: 401
        HttpClient(host="127.0.0.1", port=srv.port, headers={"Authorization": "Bearer tok"})
