"""Images and URIs through a real chroma-frame server: chromadb's own HttpClient and ours embed
images and load URIs client-side and send embeddings + URIs, as Chroma's clients do; both give
what chromadb's in-process client gives for the same calls."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np
import pytest

pytest.importorskip("PIL")
chromadb = pytest.importorskip("chromadb")

import chroma_frame  # noqa: E402
from chroma_frame.api.types import EmbeddingFunction  # noqa: E402
from chroma_frame.utils.data_loaders import ImageLoader  # noqa: E402
from tests.differential.support import error_key, run  # noqa: E402
from tests.multimodal.support import comparable, make_images, mean_colour, save_png  # noqa: E402
from tests.server.conftest import Server, chroma_client  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    started = Server(tmp_path_factory.mktemp("srv") / "data").start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[list, list]:
    images = make_images(8, seed=3)
    return images, save_png(images, tmp_path_factory.mktemp("png"))


def _chromadb_side() -> tuple[Any, Any, type]:
    from chromadb.api.types import EmbeddingFunction as ChromaEF
    from chromadb.utils.data_loaders import ImageLoader as ChromaImageLoader

    return ChromaEF, ChromaImageLoader, chromadb.EphemeralClient


def script(collection: Any, images: list, uris: list) -> list:
    """The same calls on any client's collection; what each returned (or raised)."""
    calls: list[Callable[[], Any]] = [
        lambda: collection.add(ids=["i0", "i1", "i2"], images=images[:3], metadatas=[{"k": 0}, None, {"k": 2}]),
        lambda: collection.add(ids=["u3", "u4", "u5"], uris=uris[3:6]),
        lambda: collection.upsert(ids=["i2", "u6"], images=[images[6], images[6]], uris=[uris[6], uris[6]]),
        lambda: collection.update(ids=["i0"], uris=[uris[7]]),
        lambda: collection.get(include=["uris", "embeddings", "metadatas"]),
        lambda: collection.get(include=["data"]),
        lambda: collection.get(ids=["u4", "i1"], include=["data", "uris", "documents"]),
        lambda: collection.query(query_images=[images[4], images[1]], n_results=3, include=["uris", "distances"]),
        lambda: collection.query(query_uris=[uris[5]], n_results=2, include=["data", "distances"]),
        lambda: collection.query(query_texts=["blue"], n_results=3, include=["distances", "uris"]),
        lambda: collection.query(query_texts=["red"], query_images=[images[0]]),
        lambda: collection.add(ids=["x"], images=[images[0]], uris=[uris[0]]),
        lambda: collection.upsert(ids=["x"], uris=[uris[0]]),
        lambda: collection.get(include=["data", "distances"]),
    ]
    return [run(call) for call in calls]


def _describe(outcome: Any, metadatas: bool = True) -> Any:
    if outcome.error is not None:
        return ("error", *error_key(outcome.error))
    value = outcome.value
    if not isinstance(value, dict):
        return value
    value = comparable(value)
    out: dict = {key: value[key] for key in ("ids", "uris", "data", "included", "documents")}
    if metadatas:
        out["metadatas"] = value["metadatas"]
    for key in ("embeddings", "distances"):
        if value.get(key) is not None:
            out[key] = np.round(np.asarray(value[key], dtype=np.float64), 5).tolist()
    return out


def test_both_http_clients_agree_with_chromadb(server, files):
    images, uris = files
    ChromaEF, ChromaImageLoader, Ephemeral = _chromadb_side()
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    local = Ephemeral().create_collection("photos", embedding_function=mean_colour(ChromaEF),
                                          data_loader=ChromaImageLoader())
    expected = script(local, images, uris)
    theirs = chroma_client(server).create_collection("photos-chromadb", embedding_function=mean_colour(ChromaEF),
                                                    data_loader=ChromaImageLoader())
    ours = chroma_frame.HttpClient(host="127.0.0.1", port=server.port).create_collection(
        "photos-ours", embedding_function=mean_colour(EmbeddingFunction), data_loader=ImageLoader())
    via_chromadb, via_ours = script(theirs, images, uris), script(ours, images, uris)
    for step, (e, t, o) in enumerate(zip(expected, via_chromadb, via_ours)):
        # over HTTP, "data" does not bring the metadatas (chromadb's in-process client's quirk)
        assert _describe(t) == _describe(o), f"step {step}: chromadb's HttpClient vs ours"
        assert _describe(e, metadatas=False) == _describe(o, metadatas=False), f"step {step}: in-process vs HTTP"
    assert via_ours[5].value["data"][3] is not None and via_ours[5].value["data"][1] is None  # i1: no URI


def test_uris_travel_as_strings(server, files):
    """The wire carries embeddings and URIs only: a collection opened without the loader still
    returns the URIs, and refuses ``include=["data"]`` with Chroma's message."""
    images, uris = files
    client = chroma_frame.HttpClient(host="127.0.0.1", port=server.port)
    collection = client.create_collection("wire", embedding_function=mean_colour(EmbeddingFunction),
                                          data_loader=ImageLoader())
    collection.add(ids=["a", "b"], uris=uris[:2])
    plain = chroma_client(server).get_collection("wire", embedding_function=None)
    got = plain.get(include=["uris", "embeddings"])
    assert got["uris"] == uris[:2]
    assert np.allclose(got["embeddings"], mean_colour(EmbeddingFunction)(images[:2]))
    for handle in (plain, client.get_collection("wire", embedding_function=mean_colour(EmbeddingFunction))):
        with pytest.raises(ValueError, match=r"^You must set a data loader on the collection if loading from URIs\. "
                                             r"in get\.$"):
            handle.get(include=["data"])


def test_async_http_client(server, files):
    import asyncio

    images, uris = files

    async def scenario() -> tuple[dict, dict]:
        client = await chroma_frame.AsyncHttpClient(host="127.0.0.1", port=server.port)
        collection = await client.create_collection("async-photos", embedding_function=mean_colour(EmbeddingFunction),
                                                    data_loader=ImageLoader())
        await collection.add(ids=["a", "b"], images=images[:2])
        await collection.add(ids=["c", "d"], uris=uris[2:4])
        hits = await collection.query(query_uris=[uris[3]], n_results=2, include=["data", "distances"])
        return hits, await collection.get(include=["data"])

    hits, got = asyncio.run(scenario())
    assert hits["ids"][0][0] == "d" and np.array_equal(hits["data"][0][0], images[3])
    assert got["uris"] == [None, None, *uris[2:4]] and got["data"][:2] == [None, None]
    assert all(np.array_equal(a, b) for a, b in zip(got["data"][2:], images[2:4]))
