"""chroma_frame.ray.knn_join against collection.query: the same hits, on a real Ray cluster."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from tests.ray.support import open_collection, records, rows

DIM = 16


def indexed(kind, request, folder, space):
    """Several blockfiles with graphs, and a log tail."""
    configuration = {"hnsw": {"space": space, "ef_search": 200}, "nndescent": {"min_rows": 300}}
    col, target = open_collection(kind, request, folder, configuration=configuration,
                                          compaction_threshold_rows=500)
    for start in range(0, 1800, 600):
        col.add(**records(600, DIM, start=start, seed=start))
    col.build_index()
    assert col.wait_for_index(60)
    col.delete(ids=[f"r{i}" for i in range(0, 1800, 13)])
    col.add(**records(120, DIM, start=1800, seed=7))  # the tail, searched exactly
    status = col.index_status()
    assert status["indexed_rows"] >= 1500 and status["exact_rows"] > 0
    return col, target


def queries(n=40, seed=11):
    return records(n, DIM, start=10_000, seed=seed)["embeddings"]


def check(got, expected, k):
    """``got`` (hits of knn_join) equals ``collection.query``'s result, query by query."""
    got = got.sort_by([("qid", "ascending"), ("rank", "ascending")])
    assert got.column_names == ["qid", "id", "distance", "rank"]
    assert got.schema.field("rank").type == pa.int32() and got.schema.field("distance").type == pa.float32()
    by_query = got.to_pydict()
    at = 0
    for q, (ids, dists) in enumerate(zip(expected["ids"], expected["distances"])):
        n = len(ids)
        assert by_query["qid"][at:at + n] == [q] * n
        assert by_query["id"][at:at + n] == ids
        assert np.allclose(by_query["distance"][at:at + n], dists, atol=1e-6, rtol=1e-6)  # float32
        assert by_query["rank"][at:at + n] == list(range(1, n + 1))
        at += n
    assert at == got.num_rows and all(len(ids) <= k for ids in expected["ids"])


def fixed_size(q):
    import ray

    return ray.data.from_arrow(pa.table({"qid": np.arange(len(q)),
                                         "embedding": pa.FixedSizeListArray.from_arrays(pa.array(q.reshape(-1)), DIM)}))


@pytest.mark.parametrize("space", ["l2", "cosine"])
def test_knn_join_equals_query(backend_kind, request, tmp_path, ray_cluster, space):
    from chroma_frame.ray import knn_join

    col, target = indexed(backend_kind, request, tmp_path / "db", space)
    q = queries()
    for where in (None, {"shard": {"$gte": 3}}):
        expected = col.query(query_embeddings=q, n_results=10, where=where, include=["distances"])
        got = rows(knn_join(fixed_size(q), collection="records", k=10, where=where, batch_size=16, concurrency=1,
                            **target))
        check(got, expected, 10)


def test_knn_join_in_groups_merges_exactly(tmp_path, request, ray_cluster):
    """Each stage holds some blockfiles (or the tail); the merged top-k is the query's."""
    from chroma_frame.ray import knn_join
    from chroma_frame.ray.knn import split
    from chroma_frame.ray.plan import engine_of, plan_version

    col, target = indexed("local", request, tmp_path / "db", "cosine")
    parts = plan_version(engine_of(col).store, None).parts
    assert [len(g) for g in split(parts, 2)] == [2, 2] and len(split(parts, 9)) == len(parts)
    q = queries()
    for where in (None, {"tag": {"$ne": "t1"}}):
        expected = col.query(query_embeddings=q, n_results=10, where=where, include=["distances"])
        check(rows(knn_join(fixed_size(q), collection="records", k=10, where=where, groups=2, concurrency=1,
                            **target)), expected, 10)


def test_knn_join_query_columns_and_versions(tmp_path, request, ray_cluster):
    """Tensor and list query columns, where_document, a pinned past version, more hits than records match."""
    import ray

    from chroma_frame.ray import knn_join

    col, target = indexed("local", request, tmp_path / "db", "l2")
    q = queries(12)
    version = col.versions()[-1]["version"]
    tensors = ray.data.from_numpy(q).add_column("qid", lambda batch: np.arange(len(batch)))  # one block: qid 0..
    expected = col.query(query_embeddings=q, n_results=5, include=["distances"])
    check(rows(knn_join(tensors, collection="records", k=5, query_column="data", concurrency=1, **target)), expected, 5)
    lists = ray.data.from_arrow(pa.table({"qid": np.arange(len(q)), "vector": pa.array(q.tolist(), pa.list_(pa.float32()))}))
    col.add(**records(50, DIM, start=5000, seed=9))  # after the pinned version
    check(rows(knn_join(lists, collection="records", k=5, query_column="vector", as_of=version, **target)), expected, 5)
    narrow = col.query(query_embeddings=q, n_results=30, where_document={"$contains": "document 17"}, include=["distances"])
    check(rows(knn_join(lists, collection="records", k=30, query_column="vector",
                        where_document={"$contains": "document 17"}, **target)), narrow, 30)
    with pytest.raises(Exception, match="dimension"):
        bad = ray.data.from_arrow(pa.table({"qid": [0], "embedding": pa.array([[1.0, 2.0]], pa.list_(pa.float32()))}))
        rows(knn_join(bad, collection="records", k=3, **target))
