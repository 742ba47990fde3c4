"""`chroma-frame run --path s3://...`: Chroma's own client against servers on object storage (moto),
two server processes on one bucket prefix answering consistently."""

from __future__ import annotations

import uuid

import numpy as np

from tests.server.conftest import Server, chroma_client


def test_two_servers_on_one_s3_prefix_serve_chromas_client(s3_endpoint, s3_cache_dir, tmp_path):
    url = s3_endpoint.url(f"served-{uuid.uuid4().hex[:8]}")
    env = {"AWS_ENDPOINT_URL": s3_endpoint.endpoint_url, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1", "S3_CACHE_DIR": s3_cache_dir}
    servers = [Server(tmp_path / f"log{i}" / "x", env=env, storage=url) for i in range(2)]
    for server in servers:
        (server.path.parent).mkdir(parents=True)
        server.start()
    try:
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
    finally:
        for server in servers:
            server.stop()
