"""chroma_frame.ray.write on a real local Ray cluster: one version per job, Chroma's add / upsert
semantics (checked against the same calls through the collection API), atomic failures,
idempotent retries, graphs built by the workers."""

from __future__ import annotations

import os
import time

import numpy as np
import pyarrow as pa
import pytest

import chroma_frame
from chroma_frame.errors import DuplicateIDError, InvalidArgumentError
from tests.ray.functions import FailOnceEmbedding, ToyEmbedding

DIM = 8


def _table(lo: int, hi: int, seed: int = 0, *, tag: str = "t", documents: bool = True) -> pa.Table:
    rng = np.random.default_rng(seed)
    n = hi - lo
    emb = rng.standard_normal((n, DIM)).astype(np.float32)
    columns = {"id": [f"r{i}" for i in range(lo, hi)],
               "embedding": pa.FixedSizeListArray.from_arrays(pa.array(emb.ravel()), DIM),
               "n": np.arange(lo, hi), "tag": [f"{tag}{i % 3}" for i in range(lo, hi)]}
    if documents:
        columns["document"] = [f"doc {i}" for i in range(lo, hi)]
    return pa.table(columns)


def _records(table: pa.Table) -> dict:
    rows = table.to_pylist()
    return {"ids": [r["id"] for r in rows], "embeddings": [r["embedding"] for r in rows],
            "documents": [r["document"] for r in rows] if "document" in table.column_names else None,
            "metadatas": [{"n": r["n"], "tag": r["tag"]} for r in rows]}


def _dataset(table: pa.Table, blocks: int):
    import ray.data

    return ray.data.from_arrow(table).repartition(blocks)


def _state(col) -> dict:
    got = col.get(include=["embeddings", "documents", "metadatas"])
    order = np.argsort(got["ids"])
    return {"ids": [got["ids"][i] for i in order], "documents": [got["documents"][i] for i in order],
            "metadatas": [got["metadatas"][i] for i in order],
            "embeddings": np.asarray(got["embeddings"])[order]}


def _assert_same(a, b) -> None:
    sa, sb = _state(a), _state(b)
    assert sa["ids"] == sb["ids"]
    assert sa["documents"] == sb["documents"]
    assert sa["metadatas"] == sb["metadatas"]
    np.testing.assert_array_equal(sa["embeddings"], sb["embeddings"])


def _job_files(path: str, col) -> list[str]:
    folder = os.path.join(path, "collections", str(col.id), "blocks")
    return sorted(n for n in os.listdir(folder) if n.startswith("job")) if os.path.isdir(folder) else []


def _unlisted(col) -> list[str]:
    """Blockfiles on disk that the current version does not list (a failed job's leftovers)."""
    from chroma_frame.storage.consistency import unlisted_blockfiles
    from chroma_frame.storage.manifest import read_manifest

    store = col._engine.store
    return unlisted_blockfiles(store.storage, store.prefix, read_manifest(store.storage, store.prefix))


def test_write_add_then_upsert_equals_the_collection_api(ray_cluster, location, tmp_path):
    import chroma_frame.ray as cfr

    path, settings = location
    first, second = _table(0, 3000), _table(2500, 4000, seed=1, tag="u", documents=False)
    summary = cfr.write(_dataset(first, 3), path, "ray-col", rows_per_file=1000, settings=settings,
                        configuration={"hnsw": {"space": "cosine"}})
    assert (summary.rows_read, summary.rows_written, summary.blockfiles) == (3000, 3000, 3)
    again = cfr.write(_dataset(second, 2), path, "ray-col", mode="upsert", settings=settings)
    assert again.rows_written == 1500
    skipped = cfr.write(_dataset(first.slice(0, 200), 1), path, "ray-col", settings=settings)  # add: all exist
    assert (skipped.rows_written, skipped.rows_skipped, skipped.blockfiles) == (0, 200, 0)

    col = chroma_frame.PersistentClient(path, chroma_frame.Settings(**settings)).get_collection("ray-col")
    twin = chroma_frame.PersistentClient(str(tmp_path / "twin")).create_collection(
        "twin", configuration={"hnsw": {"space": "cosine"}})
    twin.add(**_records(first))
    twin.upsert(**{k: v for k, v in _records(second).items() if v is not None})
    twin.add(**_records(first.slice(0, 200)))
    assert col.count() == twin.count() == 4000
    _assert_same(col, twin)
    assert col.get(ids=["r2600"])["documents"] == ["doc 2600"]  # upsert without documents kept the old one
    queries = np.random.default_rng(9).standard_normal((5, DIM)).astype(np.float32)
    got, want = col.query(query_embeddings=queries, n_results=7), twin.query(query_embeddings=queries, n_results=7)
    assert got["ids"] == want["ids"]
    np.testing.assert_allclose(got["distances"], want["distances"], rtol=1e-5, atol=1e-6)
    assert [v["operation"] for v in col.versions()][-2:] == ["ray:add", "ray:upsert"]
    assert col.configuration_json["hnsw"]["space"] == "cosine"


def test_workers_embed_documents_and_build_graphs(ray_cluster, tmp_path):
    import chroma_frame.ray as cfr

    path = str(tmp_path / "db")
    table = _table(0, 6000).drop(["embedding"])
    summary = cfr.write(_dataset(table, 2), path, "embedded", rows_per_file=3000, embedding_function=ToyEmbedding())
    assert (summary.rows_embedded, summary.graphs, summary.blockfiles) == (6000, 2, 2)
    col = chroma_frame.PersistentClient(path).get_collection("embedded", embedding_function=ToyEmbedding())
    assert col.wait_for_index(60)
    status = col.index_status()
    assert status["indexed_rows"] == 6000, status
    assert status["builders_started"] == 0, status  # the workers' graphs: nothing was left to build here
    got = col.get(ids=["r17"], include=["embeddings"])
    np.testing.assert_array_equal(got["embeddings"][0], ToyEmbedding()(["doc 17"])[0])
    hit = col.query(query_texts=["doc 4242"], n_results=1)
    assert hit["ids"] == [["r4242"]]


def test_duplicate_ids_across_tasks_commit_nothing(ray_cluster, tmp_path):
    import chroma_frame.ray as cfr

    path = str(tmp_path / "db")
    cfr.write(_dataset(_table(0, 100), 1), path, "dups")
    both = pa.concat_tables([_table(100, 600), _table(400, 500, seed=3)])
    with pytest.raises(DuplicateIDError, match="Expected IDs to be unique"):
        cfr.write(_dataset(both, 3), path, "dups", rows_per_file=300)
    col = chroma_frame.PersistentClient(path).get_collection("dups")
    assert col.count() == 100
    assert len(col.versions()) == 2  # created, then the first write: nothing from the failed one
    assert _unlisted(col) == []
    assert not os.listdir(os.path.join(path, "collections", str(col.id), "jobs"))


def test_a_job_whose_tasks_fail_halfway_commits_nothing(ray_cluster, tmp_path):
    import chroma_frame.ray as cfr

    path = str(tmp_path / "db")
    good = _table(0, 3000)
    emb = np.asarray(good.column("embedding").combine_chunks().values).reshape(-1, DIM).copy()
    emb[2900, 3] = np.nan  # in the last task's rows: the first tasks write their blockfiles before it fails
    bad = good.set_column(good.column_names.index("embedding"), "embedding",
                          pa.FixedSizeListArray.from_arrays(pa.array(emb.ravel()), DIM))
    with pytest.raises(InvalidArgumentError, match="NaN"):
        cfr.write(_dataset(bad, 3), path, "atomic", rows_per_file=500)
    col = chroma_frame.PersistentClient(path).get_collection("atomic")
    assert col.count() == 0
    assert [v["operation"] for v in col.versions()] == ["create"]
    assert _job_files(path, col) == [] == _unlisted(col)  # the tasks that finished had written blockfiles


def test_a_retried_task_never_duplicates_rows(ray_cluster, tmp_path):
    import chroma_frame.ray as cfr

    path = str(tmp_path / "db")
    table = _table(0, 1000).drop(["embedding"])
    docs = table.column("document").to_pylist()
    docs[700] = "boom"  # the task's second blockfile fails once, after its first was written
    table = table.set_column(table.column_names.index("document"), "document", pa.array(docs))
    flag = str(tmp_path / "failed-once")
    summary = cfr.write(_dataset(table, 1), path, "retried", rows_per_file=500,
                        embedding_function=FailOnceEmbedding(flag),
                        ray_remote_args={"max_retries": 2, "retry_exceptions": True})
    assert os.path.exists(flag)  # the first attempt did fail
    col = chroma_frame.PersistentClient(path).get_collection("retried", embedding_function=ToyEmbedding())
    assert summary.rows_written == col.count() == 1000
    assert len(set(col.get()["ids"])) == 1000
    arrows = [n for n in _job_files(path, col) if n.count(".") == 1]
    assert len(arrows) == 2  # the retry wrote the same two names again


def test_vacuum_keeps_a_running_jobs_files(ray_cluster, tmp_path):
    from chroma_frame.engine.history import vacuum
    from chroma_frame.storage.blockfile import write_blockfile
    from chroma_frame.storage.jobs import end_job, job_block, start_job
    from chroma_frame.storage.records import build_rows

    client = chroma_frame.PersistentClient(str(tmp_path / "db"))
    col = client.create_collection("vac")
    col.add(ids=["a"], embeddings=[[0.0] * DIM])
    store = col._engine.store
    job = start_job(store.storage, store.prefix, "test")
    rows = build_rows(dimension=DIM, seqs=2, rowids=[100], ops=0, ids=["b"], embeddings=np.ones((1, DIM), np.float32))
    ref = write_blockfile(store.storage, store.prefix, rows, stem=job_block(job, 0, 0))
    vacuum(store, older_than=0, in_flight=0, now=time.time() + 60)  # the job's file is old enough for an orphan, but its job runs
    assert store.storage.exists(f"{store.prefix}/{ref}")
    assert col.count() == 1  # and readers do not mind it
    end_job(store.storage, store.prefix, job)
    vacuum(store, older_than=0, in_flight=0, now=time.time() + 60)
    assert not store.storage.exists(f"{store.prefix}/{ref}")


def test_read_and_knn_join_see_a_job_before_and_after_its_fold(ray_cluster, tmp_path):
    """A job's commit read back with the other two functions: folded into a manifest (the usual
    case), and as a bare attach entry (a driver that died between its commit and the fold)."""
    import chroma_frame.ray as cfr
    from chroma_frame.storage.log import Commit
    from tests.ray.support import rows

    path = str(tmp_path / "db")
    cfr.write(_dataset(_table(0, 3000), 2), path, "rw-col", rows_per_file=1500)
    col = chroma_frame.PersistentClient(path).get_collection("rw-col")
    store = col._engine.store
    col.add(ids=["late"], embeddings=[[0.5] * DIM])  # a log tail, then an attach entry no manifest folds
    col._engine.compact()
    snap = store.snapshot(fresh=True)
    from chroma_frame.storage.blockfile import write_blockfile
    from chroma_frame.storage.records import build_rows

    extra = _records(_table(3000, 4000, seed=5))
    block = build_rows(dimension=DIM, seqs=snap.last_seq + 1, rowids=range(1 << 40, (1 << 40) + 1000), ops=0,
                       ids=extra["ids"], metadatas=extra["metadatas"], documents=extra["documents"],
                       embeddings=np.asarray(extra["embeddings"], np.float32))
    ref = write_blockfile(store.storage, store.prefix, block, stem="job0-000000-0000")
    ref = type(ref)(str(ref), rows=ref.rows, size=ref.size, crc32c=ref.crc32c, dimension=DIM)
    assert store.log.append(snap.last_seq + 1, snap.table.slice(0, 0), Commit("ray:add", 4001, attach=(ref,)))
    fresh = chroma_frame.PersistentClient(path).get_collection("rw-col")
    assert fresh.count() == 4001
    for as_of in (None, snap.last_seq - 2, snap.last_seq + 1):
        got = rows(cfr.read(path, "rw-col", as_of=as_of)).sort_by("id")
        assert got.equals(fresh.to_arrow(as_of=as_of).sort_by("id")), as_of
    queries = np.random.default_rng(4).standard_normal((6, DIM)).astype(np.float32)
    qds = ray_cluster.data.from_arrow(pa.table({"qid": list(range(6)), "embedding": pa.FixedSizeListArray.from_arrays(
        pa.array(queries.ravel()), DIM)}))
    hits = rows(cfr.knn_join(qds, path, "rw-col", k=5)).sort_by([("qid", "ascending"), ("rank", "ascending")])
    want = fresh.query(query_embeddings=queries, n_results=5)
    assert [hits.filter(pa.compute.equal(hits["qid"], i))["id"].to_pylist() for i in range(6)] == want["ids"]


def test_a_dataset_of_another_dimension_is_refused_as_add_refuses_it(ray_cluster, tmp_path):
    import chroma_frame.ray as cfr

    path = str(tmp_path / "db")
    cfr.write(_dataset(_table(0, 50), 1), path, "dims")
    narrow = pa.table({"id": ["x", "y"], "embedding": pa.FixedSizeListArray.from_arrays(pa.array([0.5] * 8, pa.float32()),
                                                                                         4)})
    with pytest.raises(InvalidArgumentError, match="Collection expecting embedding with dimension of 8, got 4"):
        cfr.write(_dataset(narrow, 1), path, "dims")
    col = chroma_frame.PersistentClient(path).get_collection("dims")
    assert col.count() == 50 and _unlisted(col) == []
