"""Chroma's pinned behaviours through a real server: trace ids on errors, query by missing ids,
the collection model, fork_count and indexing status, with chromadb's own HttpClient and ours."""

from __future__ import annotations

import re

import pytest

from chroma_frame import errors
from chroma_frame.http_client import HttpClient
from tests.server.conftest import chroma_client
from tests.server.test_http_client import TinyEF


@pytest.fixture(params=["chromadb", "chroma_frame"])
def client(request, server):
    if request.param == "chromadb":
        return chroma_client(server)
    return HttpClient(host="127.0.0.1", port=server.port)


def _fresh(client, name: str):
    try:
        client.delete_collection(name)
    except Exception:  # noqa: BLE001 - either library's NotFoundError
        pass
    col = client.create_collection(name, embedding_function=None)
    col.add(ids=["a", "b", "c"], embeddings=[[1.0, 2.0], [2.0, 3.0], [3.0, 4.0]])
    col.delete(ids=["b"])
    return col


def test_errors_carry_a_trace_id(client) -> None:
    with pytest.raises(Exception) as raised:
        client.get_collection("no-such-collection")
    assert type(raised.value).__name__ == "NotFoundError"
    assert re.fullmatch(r"[0-9a-f]{32}", raised.value.trace_id or "")
    with pytest.raises(Exception) as again:
        client.get_collection("no-such-collection")
    assert again.value.trace_id != raised.value.trace_id


def test_query_by_missing_ids_raises(client) -> None:
    col = _fresh(client, "pins-ids")
    with pytest.raises(Exception) as raised:
        col.query(query_embeddings=[[1.0, 2.0]], ids=["b"], n_results=2)
    assert type(raised.value).__name__ == "InternalError"
    assert "Error finding id" in str(raised.value)
    assert col.query(query_embeddings=[[1.0, 2.0]], ids=["a", "c"], n_results=5)["ids"] == [["a", "c"]]
    assert col.query(query_embeddings=[[1.0, 2.0]], ids=["b"], where_document={"$contains": "x"})["ids"] == [[]]


def test_collection_model_and_status(client) -> None:
    col = _fresh(client, "pins-model")
    model = client.get_collection("pins-model").get_model()
    assert model["name"] == model.name == "pins-model" and model["dimension"] == 2
    assert isinstance(model["version"], int) and model.configuration_json == col.configuration_json
    assert col.fork_count() == 0
    status = col.get_indexing_status()
    assert status.total_ops == 4 and status.num_indexed_ops + status.num_unindexed_ops == 4  # 3 adds, 1 delete
    assert 0.0 <= status.op_indexing_progress <= 1.0


def test_our_client_refuses_an_incompatible_function_before_sending(server) -> None:
    client = HttpClient(host="127.0.0.1", port=server.port)
    col = client.get_or_create_collection("pins-ef")
    with pytest.raises(ValueError, match=r"Cannot update embedding function: incompatible types \(default vs tiny\)"):
        col.modify(configuration={"embedding_function": TinyEF()})
    assert client.get_collection("pins-ef").configuration_json["embedding_function"]["name"] == "default"
    with pytest.raises(errors.NotFoundError):
        client.get_collection("pins-none")


def test_attached_functions_answer_501(client) -> None:
    col = client.get_or_create_collection("pins-functions")
    for attempt in (lambda: col.attach_function(function="record_counter", name="n", output_collection="out"),
                    lambda: col.get_attached_function("n"), lambda: col.detach_function("n")):
        with pytest.raises(Exception, match="Functions are unsupported for local chroma"):
            attempt()


def test_our_http_results_are_framed(server) -> None:
    """docs/dataframes.md: HttpClient results convert like embedded ones."""
    client = HttpClient(host="127.0.0.1", port=server.port)
    assert repr(client) == (f"HttpClient(url='http://127.0.0.1:{server.port}/api/v2', tenant='default_tenant', "
                            "database='default_database')")
    col = _fresh(client, "pins-framed")
    frame = col.query(query_embeddings=[[1.0, 2.0]], n_results=2).to_polars()
    assert frame["id"].to_list() == ["a", "c"] and frame.columns[:4] == ["query", "rank", "id", "distance"]
    assert col.get(include=["embeddings"]).to_arrow().num_rows == 2
