"""The collection verbs, as a Chroma user sees them."""

import numpy as np
import pytest

import chroma_frame
from chroma_frame.errors import InvalidArgumentError, NotFoundError
from tests.conftest import open_backend
from tests.layout import manifest_path


@pytest.fixture(params=["local", "s3"])
def client(request, tmp_path):
    """The verbs on a local disk and on S3 (moto)."""
    return open_backend(request.param, request, tmp_path / "db")


@pytest.fixture
def col(client):
    return client.create_collection("things", embedding_function=None)


def _add_three(col):
    col.add(ids=["a", "b", "c"], embeddings=[[1, 1], [3, 4], [0, 1]],
            metadatas=[{"x": 1}, {"x": 2, "l": [1, 2]}, None], documents=["A", "B", None])


def test_add_get_roundtrip_in_insertion_order(col):
    _add_three(col)
    got = col.get(ids=["c", "a"], include=["documents", "metadatas", "embeddings"])
    assert got["ids"] == ["a", "c"]  # Chroma returns insertion order, not request order
    assert got["documents"] == ["A", None]
    assert got["metadatas"] == [{"x": 1}, None]
    assert got["embeddings"].dtype == np.float32
    np.testing.assert_array_equal(got["embeddings"], [[1, 1], [0, 1]])
    assert got["included"] == ["documents", "metadatas", "embeddings"]
    assert col.get()["embeddings"] is None


def test_add_of_existing_id_is_ignored(col):
    _add_three(col)
    col.add(ids=["a"], embeddings=[[9, 9]], documents=["changed"])
    got = col.get(ids=["a"], include=["documents", "embeddings"])
    assert got["documents"] == ["A"]
    np.testing.assert_array_equal(got["embeddings"], [[1, 1]])
    assert col.count() == 3


def test_update_merges_metadata_and_ignores_missing_ids(col):
    _add_three(col)
    col.update(ids=["b", "zz"], metadatas=[{"x": None, "y": "q"}, {"y": 1}])
    assert col.get(ids=["b"])["metadatas"] == [{"l": [1, 2], "y": "q"}]
    assert col.count() == 3
    col.update(ids="a", documents="new A", embeddings=[7, 7])
    got = col.get(ids="a", include=["documents", "metadatas", "embeddings"])
    assert got["documents"] == ["new A"] and got["metadatas"] == [{"x": 1}]
    np.testing.assert_array_equal(got["embeddings"], [[7, 7]])
    col.update(ids="a", metadatas={"z": True})  # no embedding given: the stored one is kept
    np.testing.assert_array_equal(col.get(ids="a", include=["embeddings"])["embeddings"], [[7, 7]])


def test_upsert_inserts_and_merges(col):
    _add_three(col)
    col.upsert(ids=["a", "d"], embeddings=[[2, 2], [6, 6]], metadatas=[{"w": 1}, {"w": 2}])
    got = col.get(ids=["a", "d"], include=["documents", "metadatas", "embeddings"])
    assert got["metadatas"] == [{"x": 1, "w": 1}, {"w": 2}]
    assert got["documents"] == ["A", None]  # omitted documents are kept
    np.testing.assert_array_equal(got["embeddings"], [[2, 2], [6, 6]])
    assert col.get()["ids"] == ["a", "b", "c", "d"]  # an update keeps the record's place


@pytest.mark.parametrize(
    "space, expected",
    [("l2", [0.0, 1.0, 13.0]), ("cosine", [0.0, 1 - 1 / np.sqrt(2), 1 - 7 / (np.sqrt(2) * 5)]),
     ("ip", [-1.0, 0.0, -6.0])],
)
def test_query_distances_are_chromas(client, space, expected):
    col = client.create_collection(f"s-{space}", embedding_function=None, configuration={"hnsw": {"space": space}})
    _add_three(col)
    got = col.query(query_embeddings=[[1, 1]], n_results=3)
    by_id = dict(zip(got["ids"][0], got["distances"][0]))
    assert by_id["a"] == pytest.approx(expected[0], abs=1e-6)
    assert by_id["c"] == pytest.approx(expected[1], abs=1e-6)
    assert by_id["b"] == pytest.approx(expected[2], abs=1e-6)
    assert got["distances"][0] == sorted(got["distances"][0])


def test_legacy_metadata_space(client):
    col = client.create_collection("legacy", embedding_function=None, metadata={"hnsw:space": "ip"})
    _add_three(col)
    assert col.query(query_embeddings=[1, 1], n_results=1)["distances"] == [[pytest.approx(-6.0)]]


def test_query_shapes_filters_and_ids(col):
    _add_three(col)
    res = col.query(query_embeddings=[[1, 1], [3, 4]], n_results=2, where={"x": {"$gte": 1}},
                    include=["metadatas", "documents", "distances", "embeddings"])
    assert res["ids"] == [["a", "b"], ["b", "a"]]
    assert isinstance(res["embeddings"][0], np.ndarray) and res["embeddings"][0].shape == (2, 2)
    assert col.query(query_embeddings=[[1, 1]], n_results=10, ids=["b", "c"])["ids"] == [["c", "b"]]
    empty = col.query(query_embeddings=[[1, 1]], where={"x": 99})
    assert empty["ids"] == [[]] and empty["distances"] == [[]] and empty["documents"] == [[]]


def test_delete_by_ids_and_filters(col):
    _add_three(col)
    assert col.delete(ids=["a", "ghost"]) == {"deleted": 2}  # Chroma 1.5.9 counts ids passed
    assert col.delete(where={"x": 2}) == {"deleted": 1}
    assert col.get()["ids"] == ["c"]
    col.add(ids=["a"], embeddings=[[5, 5]])  # a deleted id can come back, at the end
    assert col.get()["ids"] == ["c", "a"]


def test_peek_count_and_limits(col):
    col.add(ids=[f"id{i:02d}" for i in range(30)], embeddings=np.eye(30, 2, dtype=np.float32))
    assert col.count() == 30
    peek = col.peek()
    assert peek["ids"] == [f"id{i:02d}" for i in range(10)] and peek["embeddings"].shape == (10, 2)
    assert col.get(limit=5, offset=27)["ids"] == ["id27", "id28", "id29"]
    assert col.get(limit=0)["ids"] == []


def test_dimension_is_fixed_by_first_add(col):
    _add_three(col)
    with pytest.raises(InvalidArgumentError, match="dimension of 2, got 3"):
        col.add(ids=["z"], embeddings=[[1, 2, 3]])
    with pytest.raises(InvalidArgumentError, match="dimension"):
        col.query(query_embeddings=[[1, 2, 3]])
    assert col.count() == 3


def test_rejected_call_changes_nothing(col):
    _add_three(col)
    before = col.get(include=["documents", "metadatas", "embeddings"])
    for bad in (
        dict(ids=["d", "d"], embeddings=[[1, 1], [1, 1]]),
        dict(ids=["d", "e"], embeddings=[[1, 1]]),
        dict(ids=["d"], embeddings=[[float("nan"), 1]]),
        dict(ids=["d"], embeddings=[[1, 1]], metadatas=[{"k": {"nested": 1}}]),
    ):
        with pytest.raises(Exception):
            col.upsert(**bad)
    after = col.get(include=["documents", "metadatas", "embeddings"])
    assert after["ids"] == before["ids"] and after["metadatas"] == before["metadatas"]
    np.testing.assert_array_equal(after["embeddings"], before["embeddings"])


def test_compaction_keeps_the_same_answers(client):
    col = client.create_collection("compacting", embedding_function=None)
    rng = np.random.default_rng(1)
    emb = rng.random((200, 3), dtype=np.float32)
    col.add(ids=[str(i) for i in range(200)], embeddings=emb, metadatas=[{"i": i} for i in range(200)])
    col.update(ids=["5"], metadatas={"i": -5})
    col.delete(ids=["7"])
    before = col.get(include=["metadatas", "embeddings"])
    q_before = col.query(query_embeddings=emb[:3], n_results=5, where={"i": {"$lt": 100}})
    col.compact()
    col.delete(ids=["8"])
    col.compact()
    after = col.get(include=["metadatas", "embeddings"])
    assert after["ids"] == [i for i in before["ids"] if i != "8"]
    assert col.query(query_embeddings=emb[:3], n_results=5, where={"i": {"$lt": 100}})["ids"][0] == [
        i for i in q_before["ids"][0]]
    assert col.get(ids="5")["metadatas"] == [{"i": -5}]


def test_clients_tenants_databases(tmp_path):
    admin = chroma_frame.AdminClient(chroma_frame.Settings(is_persistent=True, persist_directory=str(tmp_path)))
    admin.create_tenant("acme")
    admin.create_database("sales", tenant="acme")
    assert [d["name"] for d in admin.list_databases(tenant="acme")] == ["sales"]
    client = chroma_frame.PersistentClient(path=str(tmp_path), tenant="acme", database="sales")
    client.create_collection("orders", embedding_function=None)
    assert [c.name for c in client.list_collections()] == ["orders"]
    assert chroma_frame.PersistentClient(path=str(tmp_path)).count_collections() == 0
    with pytest.raises(NotFoundError, match=r"Tenant \[nope\] not found"):
        chroma_frame.PersistentClient(path=str(tmp_path), tenant="nope")
    with pytest.raises(NotFoundError, match="Database \\[nope\\] not found. Are you sure it exists?"):
        client.set_database("nope")
    admin.delete_database("sales", tenant="acme")
    with pytest.raises(NotFoundError):
        admin.get_database("sales", tenant="acme")


def test_collection_lifecycle(client):
    col = client.create_collection("col1", metadata={"topic": "x"}, embedding_function=None)
    with pytest.raises(chroma_frame.errors.InternalError, match=r"Collection \[col1\] already exists"):
        client.create_collection("col1", embedding_function=None)
    same = client.get_or_create_collection("col1", metadata={"other": 1}, embedding_function=None)
    assert same.id == col.id and same.metadata == {"topic": "x"}
    col.modify(name="col2", metadata={"topic": "y"})
    assert client.get_collection("col2", embedding_function=None).metadata == {"topic": "y"}
    with pytest.raises(NotFoundError, match=r"Collection \[col1\] does not exist"):
        client.get_collection("col1")
    assert client.get_collection_by_id(col.id, embedding_function=None).name == "col2"
    client.delete_collection("col2")
    assert client.count_collections() == 0
    with pytest.raises(NotFoundError):
        client.delete_collection("col2")


def test_reset_needs_allow_reset(tmp_path):
    client = chroma_frame.PersistentClient(path=str(tmp_path))
    client.create_collection("col1", embedding_function=None)
    with pytest.raises(chroma_frame.errors.AuthorizationError, match="Reset is disabled by config"):
        client.reset()
    chroma_frame.Client.clear_system_cache()
    client = chroma_frame.PersistentClient(path=str(tmp_path), settings=chroma_frame.Settings(allow_reset=True))
    assert client.reset() is True
    assert client.count_collections() == 0


def test_explain_shows_parameterised_sql(col):
    sql = col.explain(where={"x": {"$ne": 1}}, where_document={"$contains": "'; DROP TABLE"})
    assert "DROP TABLE" not in sql.split("--")[0]  # values are bound, never in the SQL text
    assert "$1" in sql and "metadata" in sql


def test_ephemeral_clients_share_data():
    a = chroma_frame.EphemeralClient()
    col = a.get_or_create_collection("shared-eph", embedding_function=None)
    col.upsert(ids=["x"], embeddings=[[1.0]])
    b = chroma_frame.EphemeralClient()
    assert b.get_collection("shared-eph", embedding_function=None).count() == 1
    b.delete_collection("shared-eph")


def test_many_compactions_stay_few_blockfiles_and_correct(tmp_path):
    import json
    import os

    col = chroma_frame.PersistentClient(path=str(tmp_path)).create_collection("tiers", embedding_function=None)
    rng = np.random.default_rng(3)
    expected = {}
    for round_ in range(30):
        ids = [f"{round_}-{i}" for i in range(20 + round_)]
        emb = rng.random((len(ids), 4), dtype=np.float32)
        col.add(ids=ids, embeddings=emb)
        expected.update(zip(ids, emb))
        if round_ % 3 == 0:
            gone = ids[:2]
            col.delete(ids=gone)
            for g in gone:
                expected.pop(g)
        col.compact()
        manifest = json.load(open(manifest_path(os.path.join(str(tmp_path), "collections", str(col.id)))))
        assert len(manifest["blockfiles"]) <= 8
    got = col.get(include=["embeddings"])
    assert sorted(got["ids"]) == sorted(expected)
    for id_, e in zip(got["ids"], got["embeddings"]):
        np.testing.assert_array_equal(e, expected[id_])


def test_model_folder_setting(tmp_path):
    from chroma_frame.embeddings import model_files

    before = model_files.model_dir()
    try:
        chroma_frame.PersistentClient(path=str(tmp_path / "db"),
                                      settings=chroma_frame.Settings(chroma_frame_model_dir=str(tmp_path / "m")))
        assert model_files.model_dir() == tmp_path / "m"
    finally:
        model_files.set_model_dir(before)


def test_include_none_is_an_error_as_in_chroma(client):
    """Chroma's verbs default ``include`` to a list; an explicit None is refused, naming ``include``."""
    col = client.create_collection("include-none")
    col.add(ids=["a"], embeddings=[[1.0, 2.0]])
    with pytest.raises(ValueError, match=r"^Expected include to be a list, got None in get\.$"):
        col.get(include=None)
    with pytest.raises(ValueError, match=r"^Expected include to be a list, got None in query\.$"):
        col.query(query_embeddings=[[1.0, 2.0]], include=None)
    assert col.get()["included"] == ["metadatas", "documents"]
