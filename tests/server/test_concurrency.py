"""Concurrency against a real server process: the event loop answers while long requests run,
writes to one collection from several processes all land without a lock while reads go on, and concurrent queries
(which the server may coalesce into one library call) get the answers they would get alone."""

from __future__ import annotations

import base64
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import httpx
import numpy as np
import orjson
import pytest

from tests.conftest import ROOT

C = "/api/v2/tenants/default_tenant/databases/default_database/collections"
JSON = {"content-type": "application/json"}
HEARTBEAT_BOUND = 0.5  # seconds: the slowest heartbeat allowed while a long request runs


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url, timeout=120) as client:
        yield client


def _create(http: httpx.Client, name: str) -> str:
    r = http.post(C, json={"name": name})
    assert r.status_code == 200, r.text
    return r.json()["id"]


def _add_body(ids: list[str], emb: np.ndarray) -> bytes:
    """An add as chromadb's client sends it after pre-flight: base64 little-endian f32 rows."""
    rows = [base64.b64encode(row.astype("<f4").tobytes()).decode() for row in emb]
    return orjson.dumps({"ids": ids, "embeddings": rows, "metadatas": [{"n": i} for i in range(len(ids))],
                         "documents": [f"document {i}" for i in ids]})


def _query_body(queries: np.ndarray, n_results: int = 5) -> bytes:
    return orjson.dumps({"query_embeddings": queries, "n_results": n_results,
                         "include": ["distances", "metadatas"]}, option=orjson.OPT_SERIALIZE_NUMPY)


def _heartbeats_during(url: str, request: Callable[[], httpx.Response]) -> tuple[httpx.Response, float, list[float]]:
    """Run ``request`` in a thread and poll the heartbeat until it answers.

    Returns its response, its duration, and the latencies of the heartbeats sent while it was in
    flight (one sent while the loop is blocked waits until the loop is free again).
    """
    box: dict[str, Any] = {}

    def run() -> None:
        started = time.perf_counter()
        box["response"] = request()
        box["ended"] = time.perf_counter()
        box["seconds"] = box["ended"] - started

    thread = threading.Thread(target=run)
    sent: list[tuple[float, float]] = []
    with httpx.Client(base_url=url, timeout=60) as beat:
        beat.get("/api/v2/heartbeat")  # connected before the long request starts
        thread.start()
        while thread.is_alive():
            t0 = time.perf_counter()
            assert beat.get("/api/v2/heartbeat").status_code == 200
            sent.append((t0, time.perf_counter() - t0))
            time.sleep(0.005)
    thread.join()
    return box["response"], box["seconds"], [latency for at, latency in sent if at < box["ended"]]


def test_heartbeat_answers_promptly_during_a_long_ingest_and_a_long_query(server, http):
    # Sized so that the library work takes seconds (metadata-heavy records, wide results), not
    # the upload: run on the loop instead of the thread pool, a heartbeat waits over a second.
    cid = _create(http, "long-requests")
    rng = np.random.default_rng(7)
    n, dim = 5000, 64
    metadatas = [{f"key{k}": i * k if k % 2 else f"v{i}-{k}" for k in range(40)} for i in range(n)]
    body = orjson.loads(_add_body([f"r{i}" for i in range(n)], rng.random((n, dim), dtype=np.float32)))
    body = orjson.dumps({**body, "metadatas": metadatas, "documents": [f"document {i} " * 20 for i in range(n)]})

    added, ingest_seconds, beats = _heartbeats_during(
        server.url, lambda: httpx.post(f"{server.url}{C}/{cid}/add", content=body, headers=JSON, timeout=120))
    assert added.status_code == 201, added.text
    assert len(beats) >= 5, f"{len(beats)} heartbeats answered during a {ingest_seconds:.2f} s ingest"
    assert max(beats) < HEARTBEAT_BOUND, f"slowest heartbeat {max(beats):.3f} s during the ingest"

    query = orjson.dumps({"query_embeddings": rng.random((50, dim), dtype=np.float32), "n_results": 500,
                          "include": ["metadatas", "documents", "distances"]}, option=orjson.OPT_SERIALIZE_NUMPY)
    answer, query_seconds, beats = _heartbeats_during(
        server.url, lambda: httpx.post(f"{server.url}{C}/{cid}/query", content=query, headers=JSON, timeout=120))
    assert answer.status_code == 200, answer.text
    assert [len(ids) for ids in answer.json()["ids"]] == [500] * 50
    assert len(beats) >= 5, f"{len(beats)} heartbeats answered during a {query_seconds:.2f} s query"
    assert max(beats) < HEARTBEAT_BOUND, f"slowest heartbeat {max(beats):.3f} s during the query"


_OTHER_WRITER = """
import sys, numpy as np, chroma_frame
col = chroma_frame.PersistentClient(path=sys.argv[1]).get_collection("shared", embedding_function=None)
rng = np.random.default_rng(7)
for i in range(40):
    col.add(ids=[f"p{i}"], embeddings=rng.random((1, 4), dtype=np.float32).tolist())
"""


def test_another_process_writing_the_collection_loses_nothing_and_blocks_no_one(server, http):
    """Commits need no lock: a second process committing to the server's collection at the same
    time races it for each log entry; the loser re-plans, so every write lands, and reads go on."""
    cid = _create(http, "shared")
    rng = np.random.default_rng(3)
    other = subprocess.Popen([sys.executable, "-c", _OTHER_WRITER, str(server.path)], cwd=str(ROOT))
    try:
        counts = []
        for i in range(40):
            r = http.post(f"{C}/{cid}/add", content=_add_body([f"h{i}"], rng.random((1, 4), dtype=np.float32)),
                          headers=JSON)
            assert r.status_code == 201, r.text
            counts.append(http.get(f"{C}/{cid}/count").json())
        assert other.wait(timeout=120) == 0
    finally:
        other.kill()
    assert counts == sorted(counts) and counts[-1] >= 40  # reads never went back in time
    assert http.get(f"{C}/{cid}/count").json() == 80
    ids = set(http.post(f"{C}/{cid}/get", json={"include": []}).json()["ids"])
    assert ids == {f"h{i}" for i in range(40)} | {f"p{i}" for i in range(40)}


def test_concurrent_updates_of_one_record_are_serialised(server, http):
    cid = _create(http, "one-record")
    r = http.post(f"{C}/{cid}/add", content=_add_body(["x"], np.zeros((1, 4), np.float32)), headers=JSON)
    assert r.status_code == 201

    def update(i: int) -> int:  # each update merges one key into the record's metadata
        with httpx.Client(base_url=http.base_url, timeout=60) as c:
            return c.post(f"{C}/{cid}/update", json={"ids": ["x"], "metadatas": [{f"k{i}": i}]}).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(update, range(16))) == [200] * 16
    metadata = http.post(f"{C}/{cid}/get", json={"ids": ["x"], "include": ["metadatas"]}).json()["metadatas"][0]
    assert metadata == {"n": 0, **{f"k{i}": i for i in range(16)}}, "an update was lost"


def test_concurrent_queries_get_the_answers_they_get_alone(server, http):
    cid = _create(http, "coalesced")
    rng = np.random.default_rng(11)
    emb = rng.random((3000, 32), dtype=np.float32)
    r = http.post(f"{C}/{cid}/add", content=_add_body([f"r{i}" for i in range(3000)], emb), headers=JSON)
    assert r.status_code == 201
    bodies = [_query_body(rng.random((1 + i % 3, 32), dtype=np.float32), 7) for i in range(24)]
    bodies[5] = _query_body(rng.random((1, 16), dtype=np.float32), 7)  # wrong dimension: this one alone fails
    alone = [http.post(f"{C}/{cid}/query", content=b, headers=JSON) for b in bodies]

    def send(body: bytes) -> httpx.Response:
        with httpx.Client(base_url=http.base_url, timeout=60) as c:
            return c.post(f"{C}/{cid}/query", content=body, headers=JSON)

    with ThreadPoolExecutor(12) as pool:
        together = list(pool.map(send, bodies))
    assert alone[5].status_code == together[5].status_code == 400
    for one, many in zip(alone, together):
        assert one.status_code == many.status_code
        if one.status_code == 200:
            a, b = one.json(), many.json()
            assert a["ids"] == b["ids"] and a["metadatas"] == b["metadatas"]
            np.testing.assert_allclose(a["distances"], b["distances"], rtol=1e-5, atol=1e-5)
