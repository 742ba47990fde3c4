"""`chroma-frame run --path s3://...`: Chroma's own client against servers on object storage (moto),
two server processes on one bucket prefix answering consistently (as behind a load balancer)."""

from __future__ import annotations

import threading
import uuid
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import pytest

from tests.server.conftest import Server, chroma_client


@contextmanager
def servers_on_one_prefix(s3_endpoint, s3_cache_dir: str, folder, *args: str,
                          count: int = 2) -> Iterator[list[Server]]:
    """``count`` server processes over one fresh S3 prefix, started with ``args``."""
    url = s3_endpoint.url(f"served-{uuid.uuid4().hex[:8]}")
    env = {"AWS_ENDPOINT_URL": s3_endpoint.endpoint_url, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1", "S3_CACHE_DIR": s3_cache_dir}
    servers = [Server(folder / f"log{i}" / "x", list(args), env=env, storage=url) for i in range(count)]
    try:
        for server in servers:
            server.path.parent.mkdir(parents=True)
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="module")
def pair(s3_endpoint, s3_cache_dir, tmp_path_factory) -> Iterator[list[Server]]:
    """Two servers on one prefix, every read checking for the other's commits (refresh_interval 0)."""
    with servers_on_one_prefix(s3_endpoint, s3_cache_dir, tmp_path_factory.mktemp("pair")) as servers:
        yield servers


def test_two_servers_on_one_s3_prefix_serve_chromas_client(s3_endpoint, s3_cache_dir, tmp_path):
    with servers_on_one_prefix(s3_endpoint, s3_cache_dir, tmp_path) as servers:
        first, second = (chroma_client(s) for s in servers)
        col = first.create_collection("shared", embedding_function=None, configuration={"hnsw": {"space": "l2"}})
        rng = np.random.default_rng(1)
        col.add(ids=[f"a{i}" for i in range(50)], embeddings=rng.random((50, 8)).tolist())
        other = second.get_collection("shared")
        assert other.count() == 50  # written through one server, read through the other
        other.upsert(ids=["a0", "b0"], embeddings=[[0.0] * 8, [1.0] * 8], documents=["zero", "one"])
        got = col.get(ids=["a0", "b0"], include=["documents"])
        assert sorted(zip(got["ids"], got["documents"])) == [("a0", "zero"), ("b0", "one")]
        hits = col.query(query_embeddings=[[0.0] * 8], n_results=1)
        assert hits["ids"] == [["a0"]] and hits["distances"][0][0] == 0.0
        assert [c.name for c in second.list_collections()] == ["shared"]


def test_every_acknowledged_write_is_read_through_the_other_server(pair):
    from chromadb.errors import NotFoundError

    a, b = (chroma_client(s) for s in pair)
    on_a = a.create_collection("rw1", embedding_function=None, metadata={"v": 1})
    on_b = b.get_collection("rw1")  # a collection created through A
    assert on_b.id == on_a.id and on_b.metadata == {"v": 1}

    on_a.add(ids=["x", "y", "z"], embeddings=[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], documents=["x", "y", "z"],
             metadatas=[{"n": 1}, {"n": 2}, {"n": 3}])
    assert on_b.count() == 3
    assert on_b.get(ids=["y"], include=["documents", "metadatas"])["metadatas"] == [{"n": 2}]

    on_b.upsert(ids=["y", "w"], embeddings=[[0.5, 0.5], [2.0, 2.0]], documents=["y2", "w"])
    got = on_a.get(ids=["w", "y"], include=["documents", "embeddings"])
    assert dict(zip(got["ids"], got["documents"])) == {"y": "y2", "w": "w"}
    assert dict(zip(got["ids"], got["embeddings"].tolist())) == {"y": [0.5, 0.5], "w": [2.0, 2.0]}

    on_a.update(ids=["z"], embeddings=[[3.0, 3.0]], metadatas=[{"n": 30}], documents=["z2"])
    got = on_b.get(ids=["z"], include=["documents", "metadatas"])
    assert (got["documents"], got["metadatas"]) == (["z2"], [{"n": 30}])
    assert on_b.get(where={"n": 30})["ids"] == ["z"]

    on_b.delete(ids=["x"])
    assert on_a.count() == 3 and on_a.get(ids=["x"])["ids"] == []
    assert on_a.query(query_embeddings=[[1.0, 0.0]], n_results=4)["ids"][0][0] != "x"

    on_a.modify(name="rw2", metadata={"v": 2})
    renamed = b.get_collection("rw2")
    assert renamed.id == on_a.id and renamed.metadata == {"v": 2}

    a.delete_collection("rw2")
    with pytest.raises(NotFoundError):
        b.get_collection("rw2")
    assert "rw2" not in [c.name for c in b.list_collections()]
    with pytest.raises(NotFoundError):
        on_b.count()  # its id is gone for the other server too


def test_concurrent_writes_through_both_servers_all_land(pair):
    """Two writers, one per server, each 200 adds of its own ids (in batches of 5) and upserts of
    ids they share: every acknowledged write is in the final state, none lost to the other's."""
    clients = [chroma_client(s) for s in pair]
    clients[0].create_collection("race", embedding_function=None)
    cols = [c.get_collection("race") for c in clients]
    shared = [f"s{i}" for i in range(5)]
    acked: list[list[dict]] = [[], []]  # each writer's acknowledged upserts of the shared ids, in order
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        col = cols[w]
        try:
            for b in range(40):
                ids = [f"w{w}-{b * 5 + i}" for i in range(5)]
                col.add(ids=ids, embeddings=[[float(w), float(b * 5 + i)] for i in range(5)], documents=ids)
                if b % 4 == 0:
                    meta = {"writer": w, "step": b}
                    col.upsert(ids=shared, embeddings=[[float(w), float(b)]] * len(shared),
                               metadatas=[meta] * len(shared))
                    acked[w].append(meta)
        except BaseException as e:  # noqa: BLE001 - reported by the test thread
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)

    for col in cols:  # both servers answer the same final state
        assert col.count() == 2 * 200 + len(shared)
        got = col.get(where={"writer": {"$in": [0, 1]}}, include=["metadatas"])
        assert sorted(got["ids"]) == shared
        # a shared id ends with one writer's last upsert: never an older write of either
        assert {m["step"] for m in got["metadatas"]} <= {acked[0][-1]["step"], acked[1][-1]["step"]}
        assert all(m == acked[m["writer"]][-1] for m in got["metadatas"])
        rows = col.get(ids=[f"w{w}-{i}" for w in range(2) for i in range(200)], include=["documents", "embeddings"])
        assert sorted(rows["ids"]) == sorted(rows["documents"]) == sorted(f"w{w}-{i}" for w in range(2)
                                                                           for i in range(200))
        assert all(e.tolist() == [float(i[1]), float(i.split("-")[1])] for i, e in zip(rows["ids"], rows["embeddings"]))


def test_a_round_robin_client_never_reads_older_than_it_wrote(pair):
    """A client whose requests alternate between the servers (a load balancer without sticky
    sessions), while another writer adds through one of them: each read shows the client's own
    last acknowledged write, and counts never go back."""
    clients = [chroma_client(s) for s in pair]
    clients[0].create_collection("rr1", embedding_function=None)
    cols = [c.get_collection("rr1") for c in clients]
    stop = threading.Event()
    errors: list[BaseException] = []

    def background() -> None:  # another client's writes, through the first server only
        try:
            n = 0
            while not stop.is_set():
                cols[0].add(ids=[f"bg{n}"], embeddings=[[0.0, float(n)]])
                n += 1
        except BaseException as e:  # noqa: BLE001 - reported by the test thread
            errors.append(e)

    thread = threading.Thread(target=background)
    thread.start()
    try:
        seen = 0
        request = 0
        for step in range(30):
            cols[request % 2].upsert(ids=["mine"], embeddings=[[1.0, float(step)]], metadatas=[{"step": step}])
            request += 1
            got = cols[request % 2].get(ids=["mine"], include=["metadatas"])
            request += 1
            assert got["metadatas"] == [{"step": step}]
            count = cols[request % 2].count()
            request += 1
            assert count >= seen
            seen = count
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not errors, errors
    assert cols[0].count() == cols[1].count() >= seen


def test_with_a_refresh_interval_a_server_still_reads_its_own_writes(s3_endpoint, s3_cache_dir, tmp_path):
    """--refresh-interval (REFRESH_INTERVAL) lets a server reuse its last check for other servers' commits: its own
    writes are read at once, another server's only after the interval (or a fresh check)."""
    with servers_on_one_prefix(s3_endpoint, s3_cache_dir, tmp_path, "--refresh-interval", "600") as servers:
        a, b = (chroma_client(s) for s in servers)
        on_a = a.create_collection("lazy", embedding_function=None)
        on_b = b.get_collection("lazy")
        assert on_b.count() == 0  # B has now checked once, and may reuse that check for 600 s
        on_a.add(ids=["1"], embeddings=[[1.0]])
        assert on_a.count() == 1  # read-your-writes on the same server
        assert on_b.count() == 0  # B still answers from its last check
        on_b.add(ids=["2"], embeddings=[[2.0]])  # a write commits on top of everything committed
        assert on_b.count() == 2 and sorted(on_b.get()["ids"]) == ["1", "2"]
