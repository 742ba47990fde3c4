"""Every endpoint through the official ``chromadb.HttpClient`` (1.5.x), as its users call it."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

chromadb = pytest.importorskip("chromadb")
from chromadb import errors as cerr  # noqa: E402

from tests.server.conftest import chroma_client  # noqa: E402


@pytest.fixture(scope="module")
def client(server):
    return chroma_client(server)


def _name() -> str:
    return f"c-{uuid.uuid4().hex[:10]}"


# -- system ------------------------------------------------------------------------------------


def test_system_endpoints(client):
    assert isinstance(client.heartbeat(), int) and client.heartbeat() > 0
    assert isinstance(client.get_version(), str)
    assert client.get_max_batch_size() == 5461
    identity = client.get_user_identity()
    assert identity.tenant == "default_tenant" and identity.databases == ["default_database"]


# -- tenants and databases ---------------------------------------------------------------------


def test_tenants(client):
    admin = chromadb.AdminClient(client.get_settings())
    admin.create_tenant("tenant-one")
    assert admin.get_tenant("tenant-one")["name"] == "tenant-one"
    with pytest.raises(cerr.ChromaError, match=r"Tenant \[tenant-one\] already exists"):
        admin.create_tenant("tenant-one")
    with pytest.raises(cerr.NotFoundError, match=r"Tenant \[nope-tenant\] not found"):
        admin.get_tenant("nope-tenant")
    with pytest.raises(cerr.InvalidArgumentError):
        admin.create_tenant("ab")


def test_databases(client):
    admin = chromadb.AdminClient(client.get_settings())
    admin.create_tenant("tenant-db")
    for name in ("db-one", "db-two", "db-three"):
        admin.create_database(name, tenant="tenant-db")
    assert admin.get_database("db-one", tenant="tenant-db")["name"] == "db-one"
    names = [d["name"] for d in admin.list_databases(tenant="tenant-db")]
    assert names == ["db-one", "db-three", "db-two"]  # by name, as Chroma lists them
    assert [d["name"] for d in admin.list_databases(limit=1, offset=1, tenant="tenant-db")] == ["db-three"]
    with pytest.raises(cerr.ChromaError, match="already exists"):
        admin.create_database("db-one", tenant="tenant-db")
    admin.delete_database("db-two", tenant="tenant-db")
    with pytest.raises(cerr.NotFoundError, match="not found"):
        admin.get_database("db-two", tenant="tenant-db")
    with pytest.raises(cerr.NotFoundError):
        admin.delete_database("db-two", tenant="tenant-db")


def test_collections_are_scoped_to_tenant_and_database(client, server):
    admin = chromadb.AdminClient(client.get_settings())
    admin.create_tenant("tenant-scope")
    admin.create_database("db-scope", tenant="tenant-scope")
    client.set_tenant("tenant-scope", "db-scope")
    try:
        client.create_collection("scoped", embedding_function=None)
        assert [c.name for c in client.list_collections()] == ["scoped"]
    finally:
        client.set_tenant("default_tenant", "default_database")
    assert "scoped" not in [c.name for c in client.list_collections()]
    with pytest.raises(cerr.NotFoundError):
        client.set_database("no-such-db")


# -- collections -------------------------------------------------------------------------------


def test_collection_lifecycle(client):
    name = _name()
    col = client.create_collection(name, metadata={"owner": "me"}, configuration={"hnsw": {"space": "cosine"}},
                                   embedding_function=None)
    assert col.name == name and col.metadata == {"owner": "me"}
    assert col.configuration_json["hnsw"]["space"] == "cosine"
    same = client.get_or_create_collection(name, metadata={"ignored": 1}, embedding_function=None)
    assert same.id == col.id and same.metadata == {"owner": "me"}
    assert client.get_collection(name, embedding_function=None).id == col.id
    assert client.get_collection_by_id(col.id, embedding_function=None).name == name
    assert name in [c.name for c in client.list_collections()]
    total = client.count_collections()
    assert len(client.list_collections(limit=1, offset=total - 1)) == 1

    col.modify(name=name + "-x", metadata={"owner": "you"})
    renamed = client.get_collection(name + "-x", embedding_function=None)
    assert renamed.id == col.id and renamed.metadata == {"owner": "you"}
    client.delete_collection(name + "-x")
    assert client.count_collections() == total - 1
    with pytest.raises(cerr.NotFoundError, match=r"Collection \[.*\] does not exist"):
        client.get_collection(name + "-x", embedding_function=None)


def test_collection_errors(client):
    name = _name()
    client.create_collection(name, embedding_function=None)
    with pytest.raises(cerr.ChromaError, match="already exists") as info:
        client.create_collection(name, embedding_function=None)
    assert type(info.value) is cerr.ChromaError  # as Chroma's own server answers: 409 ChromaError
    with pytest.raises(cerr.NotFoundError):
        client.delete_collection("never-created")
    with pytest.raises(cerr.InvalidArgumentError, match="Validation error: name"):
        client.create_collection("x", embedding_function=None)
    with pytest.raises(cerr.InvalidArgumentError, match="Metadata cannot be empty"):
        client.create_collection(_name(), metadata={}, embedding_function=None)


def test_default_embedding_function_config_round_trips(client):
    name = _name()
    col = client.create_collection(name)  # chromadb sends its default EF's description
    assert col.configuration_json["embedding_function"]["name"] == "default"
    assert client.get_collection(name).configuration_json["embedding_function"]["name"] == "default"


# -- records -----------------------------------------------------------------------------------


@pytest.fixture
def col(client):
    return client.create_collection(_name(), embedding_function=None)


def _vectors(n: int, dim: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, dim), dtype=np.float32)


def test_add_get_exact_base64_embeddings(col):
    emb = _vectors(20)
    ids = [f"id{i}" for i in range(20)]
    metas = [{"i": i, "even": i % 2 == 0, "f": i / 3, "tag": f"t{i % 3}", "lst": [i, i + 1]} for i in range(20)]
    col.add(ids=ids, embeddings=emb, metadatas=metas, documents=[f"doc {i}" for i in range(20)],
            uris=[f"s3://b/{i}" for i in range(20)])
    assert col.count() == 20
    got = col.get(include=["embeddings", "metadatas", "documents", "uris"])
    assert got["ids"] == ids
    assert np.array_equal(np.asarray(got["embeddings"], dtype=np.float32), emb)  # f32 exact over the wire
    assert got["metadatas"] == metas
    assert got["documents"][3] == "doc 3" and got["uris"][3] == "s3://b/3"
    assert col.get(ids=["id5", "id1"])["ids"] == ["id1", "id5"]
    assert col.get(where={"i": {"$gte": 18}})["ids"] == ["id18", "id19"]
    assert col.get(where={"$and": [{"even": True}, {"tag": "t0"}]})["ids"] == ["id0", "id6", "id12", "id18"]
    assert col.get(where_document={"$contains": "doc 1"}, limit=3)["ids"] == ["id1", "id10", "id11"]
    assert col.get(limit=2, offset=5)["ids"] == ["id5", "id6"]
    assert col.get(where={"lst": {"$contains": 7}})["ids"] == ["id6", "id7"]
    peek = col.peek(3)
    assert peek["ids"] == ["id0", "id1", "id2"] and len(peek["embeddings"]) == 3


def test_query(col):
    emb = np.eye(4, dtype=np.float32)
    col.add(ids=["a", "b", "c", "d"], embeddings=emb, metadatas=[{"k": i} for i in range(4)],
            documents=["A", "B", "C", "D"])
    res = col.query(query_embeddings=[[1, 0, 0, 0], [0, 0, 0.9, 0]], n_results=2,
                    include=["distances", "documents", "metadatas", "embeddings"])
    assert res["ids"][0][0] == "a" and res["ids"][1][0] == "c"
    assert res["distances"][0][0] == pytest.approx(0.0) and res["distances"][1][0] == pytest.approx(0.01, abs=1e-6)
    assert res["documents"][0][0] == "A" and res["metadatas"][1][0] == {"k": 2}
    assert np.array_equal(np.asarray(res["embeddings"][0][0]), emb[0])
    filtered = col.query(query_embeddings=[[1, 0, 0, 0]], n_results=10, where={"k": {"$gt": 1}})
    assert filtered["ids"] == [["c", "d"]]
    restricted = col.query(query_embeddings=[[1, 0, 0, 0]], n_results=10, ids=["b", "d"])
    assert sorted(restricted["ids"][0]) == ["b", "d"]


def test_update_upsert_delete(col):
    col.add(ids=["a", "b", "c"], embeddings=_vectors(3), metadatas=[{"x": 1, "z": 3}, {"x": 2}, {"x": 3}])
    col.update(ids=["a"], metadatas=[{"w": 1, "z": None}], embeddings=[[9, 9, 9, 9]])
    got = col.get(ids=["a"], include=["metadatas", "embeddings"])
    assert got["metadatas"] == [{"x": 1, "w": 1}] and list(got["embeddings"][0]) == [9, 9, 9, 9]
    col.upsert(ids=["b", "n"], embeddings=_vectors(2, seed=1), metadatas=[{"y": 5}, {"y": 6}])
    assert col.get(ids=["b"])["metadatas"] == [{"x": 2, "y": 5}]
    assert col.count() == 4
    assert col.delete(ids=["a"]) == {"deleted": 1}
    col.delete(where={"y": 6})
    assert sorted(col.get()["ids"]) == ["b", "c"]


def test_record_errors(col):
    col.add(ids=["a"], embeddings=[[1, 2, 3, 4]])
    with pytest.raises(cerr.InvalidArgumentError, match="dimension"):
        col.add(ids=["b"], embeddings=[[1, 2]])
    with pytest.raises(cerr.InvalidArgumentError, match="dimension"):
        col.query(query_embeddings=[[1, 2]])
    with pytest.raises(cerr.DuplicateIDError):  # chromadb validates before sending
        col.add(ids=["a", "a"], embeddings=[[1, 2, 3, 4]] * 2)


def test_data_written_by_http_is_visible_to_get_by_id(client, col):
    col.add(ids=["x"], embeddings=[[0.5, 0.25, 0.125, 1.0]], documents=["hello"])
    again = client.get_collection_by_id(col.id, embedding_function=None)
    assert again.get(ids=["x"])["documents"] == ["hello"]
    assert again.get_model()["dimension"] in (None, 4)
