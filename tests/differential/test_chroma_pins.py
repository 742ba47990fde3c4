"""Behaviours Chroma pins in its own tests, side by side with chromadb 1.5.9 in-process: the
collection model, handle equality, listing order, embedding-function checks, query by missing ids."""

from __future__ import annotations

import warnings

import chromadb
import numpy as np
import pytest

import chroma_frame
from tests.differential.support import check_outcomes, error_key, run


class Other(chroma_frame.EmbeddingFunction):
    """A named function with a config, registered on both sides by its name."""

    def __init__(self, k: int = 1) -> None:
        self.k = k

    def __call__(self, input):
        return [np.array([float(self.k), float(len(t))], dtype=np.float32) for t in input]

    @staticmethod
    def name() -> str:
        return "pins-other"

    def get_config(self) -> dict:
        return {"k": self.k}

    @staticmethod
    def build_from_config(config: dict) -> "Other":
        return Other(config["k"])


@pytest.fixture
def both(tmp_path):
    chromadb.api.shared_system_client.SharedSystemClient.clear_system_cache()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield chromadb.EphemeralClient(), chroma_frame.PersistentClient(str(tmp_path / "frame"))


def each(both, fn):
    """``fn(client)`` on both sides; both must fail alike, or both succeed (then the two values)."""
    expected, actual = run(fn, both[0]), run(fn, both[1])
    if check_outcomes(expected, actual, getattr(fn, "__name__", "call")):
        return expected.value, actual.value
    return None


def test_model_is_chromas_collection_model(both) -> None:
    for client in both:
        col = client.create_collection("modelled", embedding_function=None)
        col.add(ids=["a", "b"], embeddings=[[1.0, 2.0], [3.0, 4.0]])
        model = col.get_model()
        assert model.name == model["name"] == "modelled"
        assert model["configuration_json"] == model.configuration_json == col.configuration_json
        assert isinstance(model["version"], int) and model.version == model["version"]
        assert model["log_position"] is not None and model["no such field"] is None
        assert col._model.id == col.id
        assert sorted(type(model).model_fields) == sorted(type(both[0].get_collection("modelled")._model).model_fields)
    assert both[1].get_collection("modelled").get_model().dimension == 2  # chromadb's handle keeps None


def test_version_rises_with_writes() -> None:
    """Code that waits for a compaction polls ``get_model()["version"]``: here writes count at once."""
    col = chroma_frame.EphemeralClient().create_collection("versioned", embedding_function=None)
    before = col.get_model()["version"]
    col.add(ids=["a"], embeddings=[[1.0, 2.0]])
    assert col.get_model()["version"] > before
    assert col.get_model()["version"] == col.versions()[-1]["version"]


def test_handles_of_one_collection_are_equal(both) -> None:
    frame = both[1]
    for client in both:
        client.create_collection("equal-one", metadata={"a": 1})
        client.create_collection("equal-two")
    assert frame.get_collection("equal-one") == frame.get_collection("equal-one")
    assert frame.get_collection("equal-one") != frame.get_collection("equal-two")
    # chromadb 1.5.9 also compares schema objects and embedding-function instances, so its handles of
    # one collection are equal only when they share the function object; here they are equal on Chroma's fields
    listed = {c.name: c for c in frame.list_collections()}
    assert listed["equal-one"] == frame.get_collection("equal-one")
    changed = frame.get_collection("equal-one")
    changed.modify(metadata={"a": 2})
    assert changed != listed["equal-one"]


def test_list_collections_pages_like_chroma(both) -> None:
    """Chroma lists by collection id: the same ids page the same way."""
    frame = both[1]
    for name in ["zzz", "aaa", "mmm", "bbb", "yyy", "ccc"]:
        frame.create_collection(name)
    everything = frame.list_collections()
    assert [str(c.id) for c in everything] == sorted(str(c.id) for c in everything)
    assert [c.name for c in frame.list_collections(limit=2, offset=3)] == [c.name for c in everything][3:5]


def test_lambda_rejected_at_create_and_nothing_made(both) -> None:
    def make(client):
        return client.create_collection("lambda", embedding_function=lambda texts: [[1.0, 2.0]] * len(texts))

    each(both, make)
    assert "lambda" not in [c.name for c in both[1].list_collections()]  # chromadb 1.5.9 leaves it made
    both[1].create_collection("plain")
    with pytest.raises(ValueError, match="Expected EmbeddingFunction.__call__ to have the following signature"):
        both[1].get_collection("plain", embedding_function=lambda texts: texts)


def test_modify_embedding_function(both) -> None:
    def incompatible(client):
        col = client.get_or_create_collection("ef-default")
        col.modify(configuration={"embedding_function": Other()})

    each(both, incompatible)
    # refused before anything is stored (chromadb 1.5.9 stores it, then raises)
    assert both[1].get_collection("ef-default").configuration_json["embedding_function"]["name"] == "default"

    def same_kind(client):
        col = client.create_collection("ef-other", embedding_function=Other(1))
        col.modify(configuration={"embedding_function": Other(2)})
        return (col.configuration_json["embedding_function"],
                client.get_collection("ef-other").configuration_json["embedding_function"])

    expected, actual = each(both, same_kind)
    assert actual == expected and actual[1]["config"] == {"k": 2}
    assert np.allclose(both[1].get_collection("ef-other")._embed(["abc"])[0], [2.0, 3.0])


def _written(client):
    col = client.get_or_create_collection("by-ids", embedding_function=None)
    col.add(ids=["a", "b", "c"], embeddings=[[1.0, 2.0], [2.0, 3.0], [3.0, 4.0]], metadatas=[{"k": i} for i in range(3)])
    col.delete(ids=["b"])
    return col


@pytest.mark.parametrize("kwargs", [
    {"ids": ["b"]}, {"ids": ["zz"]}, {"ids": ["a", "zz"]}, {"ids": ["a", "c"]}, {"ids": ["a", "a"]},
    {"ids": ["b"], "where": {"k": 1}}, {"ids": ["zz", "a"], "where": {"k": 0}},
    {"ids": ["b"], "where_document": {"$contains": "x"}},
], ids=str)
def test_query_by_ids_naming_missing_records(both, kwargs) -> None:
    def query(client):
        col = _written(client)
        return col.query(query_embeddings=[[1.0, 2.0]], n_results=5, **kwargs)["ids"]

    found = each(both, query)
    if found is not None:
        assert found[0] == found[1]


def test_query_by_missing_ids_on_a_never_written_collection(both) -> None:
    def query(client):
        col = client.create_collection("never", embedding_function=None)
        return col.query(query_embeddings=[[1.0, 2.0]], ids=["zz"], n_results=3)["ids"]

    expected, actual = each(both, query)
    assert expected == actual == [[]]


@pytest.mark.parametrize("verb", ["add", "count", "delete", "get", "peek", "query", "update", "upsert"])
def test_every_verb_on_a_deleted_collection(both, verb) -> None:
    calls = {
        "add": lambda c: c.add(ids=["z"], embeddings=[[1.0, 2.0]]), "count": lambda c: c.count(),
        "delete": lambda c: c.delete(ids=["a"]), "get": lambda c: c.get(), "peek": lambda c: c.peek(),
        "query": lambda c: c.query(query_embeddings=[[1.0, 2.0]]),
        "update": lambda c: c.update(ids=["a"], embeddings=[[1.0, 2.0]]),
        "upsert": lambda c: c.upsert(ids=["a"], embeddings=[[1.0, 2.0]]),
    }
    outcomes = []
    for client in both:
        col = client.create_collection("gone", embedding_function=None)
        col.add(ids=["a"], embeddings=[[1.0, 2.0]])
        client.delete_collection("gone")
        outcomes.append(run(calls[verb], col))
    assert not outcomes[1].ok and type(outcomes[1].error).__name__ == "NotFoundError"
    # the message names the collection's own (random) id on each side
    assert error_key(outcomes[0].error)[1].split("[")[0] == error_key(outcomes[1].error)[1].split("[")[0]


def test_modify_on_a_deleted_collection_raises() -> None:
    """chromadb 1.5.9 in-process returns None here and changes nothing; a silent no-op hides the
    mistake, so chroma-frame raises the NotFoundError every other verb raises."""
    client = chroma_frame.EphemeralClient()
    col = client.create_collection("gone")
    client.delete_collection("gone")
    with pytest.raises(chroma_frame.errors.NotFoundError):
        col.modify(metadata={"a": 1})


def test_indexing_status_and_fork_count() -> None:
    client = chroma_frame.EphemeralClient()
    col = client.create_collection("status", embedding_function=None)
    empty = col.get_indexing_status()
    assert (empty.total_ops, empty.op_indexing_progress) == (0, 1.0)
    col.add(ids=[str(i) for i in range(10)], embeddings=np.random.default_rng(0).random((10, 4)).tolist())
    status = col.get_indexing_status()
    assert status.total_ops == 10 and status.num_indexed_ops + status.num_unindexed_ops == 10
    assert col.fork_count() == 0
    col.fork("status-fork")
    assert col.fork_count() == 1


@pytest.mark.parametrize("call", ["attach", "get", "detach"])
def test_attached_functions_are_refused_in_process(both, call) -> None:
    from chroma_frame.api import functions

    def attempt(client):
        col = client.get_or_create_collection("functions")
        if call == "attach":
            return col.attach_function(function=functions.RECORD_COUNTER_FUNCTION, name="n", output_collection="out")
        return col.get_attached_function("n") if call == "get" else col.detach_function("n")

    each(both, attempt)
    assert functions.STATISTICS_FUNCTION.value == chromadb.api.functions.STATISTICS_FUNCTION.value
