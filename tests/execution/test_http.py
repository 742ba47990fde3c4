"""``POST .../collections/{id}/search`` on a real ``chroma-frame run`` server, called by Chroma's own
``chromadb.HttpClient`` and by ``chroma_frame.HttpClient``: the same answers as embedded search."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest

import chroma_frame
from tests.server.conftest import Server, chroma_client

DIM = 5


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("search-srv") / "data").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def loaded(server):
    rng = np.random.default_rng(3)
    client = chroma_client(server)
    col = client.create_collection("searched", embedding_function=None)
    n = 40
    col.add(ids=[f"d{i}" for i in range(n)], embeddings=rng.random((n, DIM)).tolist(),
            documents=[f"document {i} {'even' if i % 2 == 0 else 'odd'}" for i in range(n)],
            metadatas=[{"group": i % 4, "title": f"t{i}", "year": 2000 + i % 7} for i in range(n)])
    return client, col


def _searches(e):
    q = [0.5] * DIM
    return [
        e.Search().where(e.K("group") == 1).rank(e.Knn(query=q, limit=8)).limit(5).select(e.K.SCORE, e.K.DOCUMENT),
        e.Search().rank(e.Rrf([e.Knn(query=q, return_rank=True, limit=20),
                               e.Knn(query=[0.1] * DIM, return_rank=True, limit=20)], weights=[2.0, 1.0]))
        .limit(6).select_all(),
        e.Search().where(e.K.DOCUMENT.contains("even") & e.K.ID.not_in(["d0", "d2"])).limit(4, offset=1)
        .select("title", "#score"),
        e.Search().rank(e.Knn(query=q, limit=30)).group_by(e.GroupBy(e.K("group"), e.MinK(e.K.SCORE, 2)))
        .limit(7).select("#score", "group", "#metadata"),
        e.Search(),
    ]


def test_official_client_search_matches_embedded(server, loaded):
    import chromadb.execution.expression as theirs

    import chroma_frame.execution.expression as ours

    _, col = loaded
    remote = col.search(_searches(theirs))
    assert type(remote).__name__ == "SearchResult" and len(remote["ids"]) == 5
    local = chroma_frame.PersistentClient(path=str(server.path)).get_collection("searched", embedding_function=None)
    embedded = local.search(_searches(ours))
    assert dict(remote) == dict(embedded)
    assert remote.rows() == embedded.rows()
    assert remote["ids"][0] and remote["scores"][0] == sorted(remote["scores"][0])


def test_chroma_frame_http_client_search(server, loaded):
    import chroma_frame.execution.expression as ours

    client = chroma_frame.HttpClient(host="127.0.0.1", port=server.port)
    col = client.get_collection("searched", embedding_function=None)
    remote = col.search(_searches(ours), read_level=chroma_frame.ReadLevel.INDEX_ONLY)
    local = chroma_frame.PersistentClient(path=str(server.path)).get_collection("searched", embedding_function=None)
    assert dict(remote) == dict(local.search(_searches(ours)))
    assert remote.to_arrow().num_rows == sum(len(ids) for ids in remote["ids"])

    async def through_async_client():
        aclient = await chroma_frame.AsyncHttpClient(host="127.0.0.1", port=server.port)
        acol = await aclient.get_collection("searched", embedding_function=None)
        answer = await acol.search(_searches(ours))
        await aclient.close()
        return answer

    assert dict(asyncio.run(through_async_client())) == dict(remote)


def test_errors_over_http(server, loaded):
    import chromadb
    import chromadb.execution.expression as theirs

    _, col = loaded
    with pytest.raises(chromadb.errors.InvalidArgumentError, match="dimension of 5, got 2"):
        col.search(theirs.Search().rank(theirs.Knn(query=[0.1, 0.2])))
    url = f"{server.url}/api/v2/tenants/default_tenant/databases/default_database/collections/{col.id}/search"
    bad = httpx.post(url, json={"searches": [{"rank": {"$knn": {"query": "text"}}}]})
    assert bad.status_code == 400 and bad.json()["error"] == "InvalidArgumentError"
    bad_level = httpx.post(url, json={"searches": [], "read_level": "sometimes"})
    assert bad_level.status_code == 422
    empty = httpx.post(url, json={"searches": [{"filter": {}, "rank": None}]})
    assert empty.status_code == 200 and len(empty.json()["ids"][0]) == 40
