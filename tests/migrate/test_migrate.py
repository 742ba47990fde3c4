"""chroma_frame.migrate on a directory made by chromadb 1.5.9: every record exactly as chromadb's
own ``get`` returns it, the catalog, query results, and the source left untouched."""

from __future__ import annotations

import os
import sqlite3

import numpy as np
import pytest

import chroma_frame
from tests.migrate.conftest import snapshot

INCLUDE = ["embeddings", "metadatas", "documents", "uris"]
PLACES = [("default_tenant", "default_database"), ("acme", "research"), ("acme", "empty_db")]


def typed(value):
    """A value with its type spelled out (True == 1 in Python; not in a metadata copy)."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [typed(v) for v in value]
    return (type(value).__name__, value)


def chroma_frame_metadatas(result: dict) -> list:
    """chromadb's metadatas as chroma-frame returns them today: a record with a uri and no metadata
    reads as None, where chromadb answers {} (the same without any migration; see the report)."""
    return [None if metadata == {} and uri is not None else metadata
            for metadata, uri in zip(result["metadatas"], result["uris"])]


@pytest.fixture(scope="module")
def migrated(chroma_source, tmp_path_factory):
    before = snapshot(chroma_source)
    target = str(tmp_path_factory.mktemp("migrated") / "frame")
    report = chroma_frame.migrate(chroma_source, target, progress=False, batch_size=500)
    return target, report, before


def frame_client(target: str, tenant: str, database: str):
    return chroma_frame.PersistentClient(target, tenant=tenant, database=database)


def test_the_source_covers_both_vector_paths(chroma_source):
    """The big collection's HNSW segment was persisted and its log purged; others live in the log only."""
    db = sqlite3.connect(f"file:{chroma_source}/chroma.sqlite3?mode=ro", uri=True)
    big = db.execute("SELECT id FROM collections WHERE name = 'cos-big'").fetchone()[0]
    vector = db.execute("SELECT id FROM segments WHERE collection = ? AND scope = 'VECTOR'", (big,)).fetchone()[0]
    logged = db.execute("SELECT count(*) FROM embeddings_queue WHERE topic LIKE ?", (f"%{big}",)).fetchone()[0]
    records = db.execute("SELECT count(*) FROM embeddings e JOIN segments s ON s.id = e.segment_id "
                         "WHERE s.collection = ?", (big,)).fetchone()[0]
    db.close()
    assert os.path.isfile(os.path.join(chroma_source, vector, "index_metadata.pickle"))
    assert records > 1000 and 0 < logged < 100  # most vectors only in the segment files, a tail only in the log


def test_migrate_leaves_the_source_untouched(chroma_source, migrated):
    _, _, before = migrated
    assert snapshot(chroma_source) == before


def test_catalog_is_copied(migrated, chroma_reference):
    target, report, _ = migrated
    assert report.tenants == ["default_tenant", "acme"]
    assert sorted(report.databases) == ["acme/empty_db", "acme/research", "default_tenant/default_database"]
    for tenant, database in PLACES:
        ours = {c.name: c for c in frame_client(target, tenant, database).list_collections()}
        theirs = {c.name: c for c in chroma_reference(tenant, database).list_collections()}
        assert sorted(ours) == sorted(theirs)
        for name, reference in theirs.items():
            copy = ours[name]
            assert str(copy.id) == str(reference.id)
            assert typed(copy.metadata) == typed(reference.metadata)
            assert copy.configuration_json == reference._model.configuration_json
            assert copy.schema.serialize_to_json() == reference.schema.serialize_to_json()
            assert copy.count() == reference.count()


def test_every_record_is_exact(migrated, chroma_reference):
    target, report, _ = migrated
    checked = 0
    for tenant, database in PLACES:
        frame = frame_client(target, tenant, database)
        for reference in chroma_reference(tenant, database).list_collections():
            theirs = reference.get(include=INCLUDE)
            ours = frame.get_collection(reference.name, embedding_function=None).get(include=INCLUDE)
            assert ours["ids"] == theirs["ids"], reference.name
            if theirs["ids"]:
                mine = np.asarray(ours["embeddings"])
                assert mine.dtype == np.float32
                assert np.array_equal(mine, np.asarray(theirs["embeddings"]).astype(np.float32)), reference.name
            assert typed(ours["metadatas"]) == typed(chroma_frame_metadatas(theirs)), reference.name
            assert ours["documents"] == theirs["documents"], reference.name
            assert ours["uris"] == theirs["uris"], reference.name
            checked += len(theirs["ids"])
    assert checked == report.records > 1500


def test_queries_match(migrated, chroma_reference):
    target, _, _ = migrated
    rng = np.random.default_rng(3)
    frame = frame_client(target, "default_tenant", "default_database")
    for name in ("l2-docs", "cos-big", "ip-vectors"):
        reference = chroma_reference().get_collection(name)
        dim = np.asarray(reference.peek(1)["embeddings"]).shape[1]
        queries = rng.standard_normal((4, dim)).astype(np.float32)
        theirs = reference.query(query_embeddings=queries, n_results=5, include=["distances"])
        ours = frame.get_collection(name, embedding_function=None).query(query_embeddings=queries, n_results=5,
                                                                         include=["distances"])
        assert ours["ids"] == theirs["ids"], name
        np.testing.assert_allclose(ours["distances"], theirs["distances"], rtol=1e-4, atol=1e-4)


def test_deleted_updated_and_upserted_records(migrated):
    target, _, _ = migrated
    docs = frame_client(target, "default_tenant", "default_database").get_collection("l2-docs",
                                                                                      embedding_function=None)
    assert docs.get(ids=["l2-0", "l2-7"])["ids"] == []
    got = docs.get(ids=["l2-1", "l2-new", "l2-5"], include=["metadatas", "documents", "embeddings"])
    by_id = dict(zip(got["ids"], zip(got["metadatas"], got["documents"], got["embeddings"])))
    assert by_id["l2-1"][0]["i"] == 1001 and by_id["l2-1"][0]["new"] == "yes" and by_id["l2-1"][1] == "updated one"
    assert by_id["l2-new"][1] == "inserted by upsert"
    assert np.array_equal(by_id["l2-5"][2], np.full(16, 0.5, dtype=np.float32))
    big = frame_client(target, "default_tenant", "default_database").get_collection("cos-big",
                                                                                     embedding_function=None)
    assert big.get(ids=["big-0", "big-39", "big-41", "big-1499"])["ids"] == []
    edited = big.get(ids=["big-100"], include=["metadatas"])["metadatas"][0]
    assert edited["edited"] == 1 and edited["i"] == 100  # an update merges keys into the metadata


def test_a_second_run_copies_nothing(chroma_source, migrated):
    target, report, before = migrated
    again = chroma_frame.migrate(chroma_source, target, progress=False)
    assert again.copied == 0 and again.records == report.records
    assert snapshot(chroma_source) == before


def test_the_report_counts(migrated):
    _, report, _ = migrated
    assert report.copied == report.records
    names = {(c.tenant, c.database, c.name): c.records for c in report.collections}
    assert names[("default_tenant", "default_database", "cos-big")] == 1500 - 16
    assert names[("acme", "research", "nothing-yet")] == 0
    assert report.to_json()["records"] == report.records


def test_migrate_to_object_storage(chroma_source, migrated, s3_endpoint, s3_cache_dir):
    """The same copy on S3 (moto on 127.0.0.1): the target goes through the storage layer."""
    target, report, _ = migrated
    s3 = chroma_frame.Settings(s3_endpoint_url=s3_endpoint.endpoint_url, s3_access_key_id="testing",
                               s3_secret_access_key="testing", s3_cache_dir=s3_cache_dir)
    remote = s3_endpoint.url("migrated-from-chroma")
    on_s3 = chroma_frame.migrate(chroma_source, remote, progress=False, settings=s3)
    assert on_s3.records == report.records and on_s3.copied == report.records
    for tenant, database in PLACES:
        local = frame_client(target, tenant, database)
        remote_client = chroma_frame.PersistentClient(remote, settings=s3.model_copy(), tenant=tenant,
                                                      database=database)
        assert [c.name for c in remote_client.list_collections()] == [c.name for c in local.list_collections()]
        for collection in local.list_collections():
            ours = remote_client.get_collection(collection.name, embedding_function=None).get(include=INCLUDE)
            theirs = collection.get(include=INCLUDE)
            assert ours["ids"] == theirs["ids"] and ours["metadatas"] == theirs["metadatas"]
            assert np.array_equal(np.asarray(ours["embeddings"]), np.asarray(theirs["embeddings"]))
    assert chroma_frame.migrate(chroma_source, remote, progress=False, settings=s3).copied == 0
