"""What the server acknowledged is on disk: readable by the embedded client, and after a SIGKILL."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from tests.server.conftest import Server, chroma_client

pytest.importorskip("chromadb")


def test_http_writes_are_read_by_the_embedded_client(server_factory):
    srv = server_factory()
    client = chroma_client(srv)
    col = client.create_collection("shared", metadata={"origin": "http"}, embedding_function=None)
    emb = np.random.default_rng(1).random((50, 8), dtype=np.float32)
    col.add(ids=[f"r{i}" for i in range(50)], embeddings=emb, metadatas=[{"i": i} for i in range(50)],
            documents=[f"text {i}" for i in range(50)])
    col.update(ids=["r0"], metadatas=[{"i": -1}])
    col.delete(ids=["r49"])
    srv.stop()

    import chroma_frame

    local = chroma_frame.PersistentClient(str(srv.path))
    same = local.get_collection("shared", embedding_function=None)
    assert same.metadata == {"origin": "http"} and same.count() == 49
    got = same.get(include=["embeddings", "metadatas", "documents"])
    assert got["ids"] == [f"r{i}" for i in range(49)]
    assert np.array_equal(np.asarray(got["embeddings"], dtype=np.float32), emb[:49])
    assert got["metadatas"][0] == {"i": -1} and got["documents"][7] == "text 7"


def test_sigkill_mid_ingest_keeps_every_acknowledged_write(server_factory, tmp_path):
    srv = server_factory()
    client = chroma_client(srv)
    col = client.create_collection("ingest", embedding_function=None)
    acknowledged: list[list[str]] = []
    stop = threading.Event()

    def writer(worker: int) -> None:
        batch = 0
        while not stop.is_set():
            ids = [f"w{worker}-b{batch}-{i}" for i in range(100)]
            emb = np.full((100, 16), worker * 1000 + batch, dtype=np.float32)
            try:
                col.add(ids=ids, embeddings=emb)
            except Exception:  # the server died under this request: not acknowledged
                return
            acknowledged.append(ids)
            batch += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while sum(map(len, acknowledged)) < 3000 and time.monotonic() < deadline:
        time.sleep(0.05)
    srv.kill()  # SIGKILL while requests are in flight
    stop.set()
    for t in threads:
        t.join(timeout=30)
    acked = {i for ids in acknowledged for i in ids}
    assert len(acked) >= 300

    restarted = Server(srv.path).start()
    try:
        again = chroma_client(restarted).get_collection("ingest", embedding_function=None)
        stored = set(again.get(include=[])["ids"])
        assert acked <= stored, f"{len(acked - stored)} acknowledged records lost"
        some = sorted(acked)[:5]
        got = again.get(ids=some, include=["embeddings"])
        for rid, vec in zip(got["ids"], got["embeddings"]):
            worker, batch = int(rid[1:rid.index("-")]), int(rid.split("-b")[1].split("-")[0])
            assert float(vec[0]) == worker * 1000 + batch
        again.add(ids=["after-restart"], embeddings=[[0.0] * 16])
        assert again.count() == len(stored) + 1
    finally:
        restarted.stop()
