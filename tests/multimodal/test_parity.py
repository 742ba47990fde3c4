"""Images, URIs and data loaders side by side with chromadb 1.5.9's EphemeralClient: the same calls
on both, the same ids, distances, uris, data, embeddings and errors."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

pytest.importorskip("PIL")
chromadb = pytest.importorskip("chromadb")

import chroma_frame  # noqa: E402
from chroma_frame.api.types import EmbeddingFunction  # noqa: E402
from chroma_frame.utils.data_loaders import ImageLoader  # noqa: E402
from tests.differential.support import (  # noqa: E402
    assert_same_get,
    assert_same_query,
    check_outcomes,
    run,
)
from tests.multimodal.support import comparable, make_images, mean_colour, save_png  # noqa: E402

FULL = ["documents", "metadatas", "embeddings", "distances", "uris"]


class Pair:
    """The same collection on both libraries (chromadb first); ``call`` runs a verb on both."""

    def __init__(self, name: str, folder: Any, loader: bool = True, **kwargs: Any) -> None:
        from chromadb.api.types import EmbeddingFunction as ChromaEF
        from chromadb.utils.data_loaders import ImageLoader as ChromaImageLoader

        self.theirs = chromadb.EphemeralClient().create_collection(
            name, embedding_function=mean_colour(ChromaEF), data_loader=ChromaImageLoader() if loader else None,
            **kwargs)
        self.ours = chroma_frame.PersistentClient(path=str(folder)).create_collection(
            name, embedding_function=mean_colour(EmbeddingFunction), data_loader=ImageLoader() if loader else None,
            **kwargs)

    def both(self, verb: str, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        expected = run(getattr(self.theirs, verb), *args, **kwargs)
        actual = run(getattr(self.ours, verb), *args, **kwargs)
        check_outcomes(expected, actual, f"{verb}({args}, {kwargs})")
        return expected.value, actual.value

    def same_get(self, **kwargs: Any) -> dict:
        expected, actual = self.both("get", **kwargs)
        assert_same_get(comparable(expected), comparable(actual), f"get({kwargs})")
        return actual

    def same_query(self, n_results: int = 3, **kwargs: Any) -> dict:
        expected, actual = self.both("query", n_results=n_results, **kwargs)
        inputs = {k: v for k, v in kwargs.items() if k.startswith("query_")}
        full = self.theirs.query(n_results=100, include=list(FULL), **inputs)
        assert_same_query(comparable(expected), comparable(actual), comparable(full), n_results, f"query({kwargs})")
        return actual


@pytest.fixture
def images() -> list[np.ndarray]:
    return make_images(12)


@pytest.fixture
def uris(images: list[np.ndarray], tmp_path) -> list[str]:
    return save_png(images, tmp_path)


@pytest.fixture(autouse=True)
def _fresh_chromadb():
    """chromadb's EphemeralClient shares one system per process: start each test on an empty one."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    yield
    SharedSystemClient.clear_system_cache()


def test_add_images_and_uris_then_read_back(tmp_path, images, uris):
    pair = Pair("photos", tmp_path)
    pair.both("add", ids=[f"i{k}" for k in range(6)], images=images[:6],
              metadatas=[{"k": k} if k % 2 else None for k in range(6)])
    pair.both("add", ids=[f"u{k}" for k in range(6, 12)], uris=uris[6:])
    pair.both("add", ids="single", images=images[0])  # one image, not a list
    for include in (["uris"], ["uris", "embeddings"], ["data"], ["data", "documents"], ["data", "uris"],
                    ["metadatas", "data", "embeddings"], ["documents"]):
        got = pair.same_get(include=list(include))
        if "data" in include:  # the data loader read the PNG files back: the very pixels
            loaded = dict(zip(got["ids"], got["data"]))
            assert loaded["i0"] is None and all(np.array_equal(loaded[f"u{k}"], images[k]) for k in range(6, 12))
    pair.same_get(ids=["u7", "i1"], include=["data", "metadatas"])
    pair.same_get(where={"k": {"$gte": 3}}, include=["data"])


def test_queries_by_image_uri_text_and_embedding(tmp_path, images, uris):
    pair = Pair("photos", tmp_path)
    pair.both("add", ids=[f"i{k}" for k in range(6)], images=images[:6])
    pair.both("add", ids=[f"u{k}" for k in range(6, 12)], uris=uris[6:], metadatas=[{"k": k} for k in range(6, 12)])
    pair.same_query(query_images=[images[1], images[8]])
    pair.same_query(query_images=images[2])  # one image
    pair.same_query(query_uris=[uris[3], uris[10]], include=["uris", "distances", "data"])
    pair.same_query(query_uris=uris[4], include=["data"], n_results=5)
    got = pair.same_query(query_texts=["red", "blue"], include=["uris", "distances"], n_results=4)
    assert got["ids"][0][0] in {"i0", "i4", "u8"}  # the reddish ones (tints cycle red, green, blue, grey)
    pair.same_query(query_embeddings=[[0.86, 0.12, 0.12, 0.0]], include=["data", "distances"], where={"k": 8})
    pair.same_query(query_images=[images[5]], include=["embeddings", "uris", "metadatas", "documents"])


def test_upsert_and_update(tmp_path, images, uris):
    """Images and URIs together show the same pixels here: Chroma embeds either field (see below)."""
    pair = Pair("photos", tmp_path)
    pair.both("add", ids=["a", "b", "c"], images=images[:3])
    pair.both("upsert", ids=["b", "d"], images=[images[4], images[5]], uris=[uris[4], uris[5]])
    pair.both("update", ids=["a"], uris=[uris[9]])  # URIs alone: stored, nothing re-embedded
    pair.both("update", ids=["c"], images=[images[7]])  # re-embedded, its URI untouched
    pair.both("update", ids=["d"], images=[images[8]], uris=[uris[8]])
    pair.both("update", ids=["missing"], images=[images[0]])
    pair.same_get(include=["embeddings", "uris", "data"])
    pair.same_query(query_uris=[uris[8]], include=["uris", "distances", "embeddings"])


def test_without_a_data_loader(tmp_path, images, uris):
    pair = Pair("plain", tmp_path, loader=False)
    pair.both("add", ids=["a", "b"], images=images[:2], uris=uris[:2])  # exactly one: refused
    pair.both("add", ids=["a", "b"], embeddings=[[1, 2, 3, 4], [5, 6, 7, 8]], uris=uris[:2])
    pair.both("upsert", ids=["c"], embeddings=[[0.1, 0.2, 0.3, 0.4]], uris=[uris[2]])
    pair.same_get(include=["uris", "embeddings"])
    pair.same_query(query_images=[images[0]], include=["uris", "distances"])
    pair.same_query(query_embeddings=[[1, 2, 3, 4]], include=["data"])  # query does not need a loader: data None
    pair.same_query(query_embeddings=[[1, 2, 3, 4]], include=["data", "distances", "documents"])
    pair.both("add", ids=["x"], uris=[uris[0]])
    pair.both("query", query_uris=[uris[0]])
    pair.both("get", include=["data"])
    pair.both("get", include=["data", "uris"])


ERRORS: dict[str, Callable[[list, list], tuple[str, dict]]] = {
    "query texts and images": lambda im, u: ("query", dict(query_texts=["red"], query_images=[im[0]])),
    "query images and uris": lambda im, u: ("query", dict(query_images=[im[0]], query_uris=[u[0]])),
    "query embeddings and images": lambda im, u: ("query", dict(query_embeddings=[[1, 2, 3, 4]],
                                                                 query_images=[im[0]])),
    "query nothing": lambda im, u: ("query", dict()),
    "query a 1-d image": lambda im, u: ("query", dict(query_images=[np.zeros(3)])),
    "query a list as an image": lambda im, u: ("query", dict(query_images=[[[1, 2], [3, 4]]])),
    "get data and distances": lambda im, u: ("get", dict(include=["data", "distances"])),
    "query images unequal": lambda im, u: ("query", dict(query_images=im[:2], query_texts=["red"])),
    "add images and documents": lambda im, u: ("add", dict(ids=["a"], images=[im[0]], documents=["red"])),
    "add images and uris": lambda im, u: ("add", dict(ids=["a"], images=[im[0]], uris=[u[0]])),
    "add images of another length": lambda im, u: ("add", dict(ids=["a", "b"], images=[im[0]])),
    "add an empty image list": lambda im, u: ("add", dict(ids=["a"], images=[])),
    "add a 1-d image": lambda im, u: ("add", dict(ids=["a"], images=[np.zeros(3)])),
    "add a missing file": lambda im, u: ("add", dict(ids=["a"], uris=["/nonexistent/x.png"])),
    "add a None uri": lambda im, u: ("add", dict(ids=["a", "b"], uris=[u[0], None])),
    "upsert uris only": lambda im, u: ("upsert", dict(ids=["a"], uris=[u[0]])),
    "upsert images and documents": lambda im, u: ("upsert", dict(ids=["a"], images=[im[0]], documents=["d"])),
    "update images and documents": lambda im, u: ("update", dict(ids=["a"], images=[im[0]], documents=["d"])),
    "add an image of another dimension": lambda im, u: ("add", dict(ids=["z"], embeddings=[[1.0, 2.0]])),
}


@pytest.mark.parametrize("case", list(ERRORS), ids=list(ERRORS))
def test_errors_match_chromadb(tmp_path, case, images, uris):
    pair = Pair("errors", tmp_path)
    pair.both("add", ids=["seed"], images=[images[0]])
    verb, kwargs = ERRORS[case](images, uris)
    pair.both(verb, **kwargs)


def test_images_on_a_text_only_function_fail_as_in_chroma(tmp_path, images):
    """The default function tokenizes: Chroma's tokenizer refuses an image per document (chromadb
    here would first download its model, so ours is checked against the message alone)."""
    collection = chroma_frame.PersistentClient(path=str(tmp_path)).create_collection("texts")
    with pytest.raises(TypeError, match=r"^TextInputSequence must be str in add\.$"):
        collection.add(ids=["a"], images=[images[0]])
    with pytest.raises(TypeError, match=r"^TextInputSequence must be str in query\.$"):
        collection.query(query_images=[images[0]])


def test_a_custom_loader_feeds_the_function_and_data(tmp_path, images):
    """Any callable ``uris -> list`` is a data loader: the URIs are keys into a dict here."""
    store = {f"mem://{k}": image for k, image in enumerate(images)}

    def loader(uris: list) -> list:
        return [None if u is None else store[u] for u in uris]

    from chromadb.api.types import EmbeddingFunction as ChromaEF

    theirs = chromadb.EphemeralClient().create_collection("mem", embedding_function=mean_colour(ChromaEF),
                                                          data_loader=loader)
    ours = chroma_frame.PersistentClient(path=str(tmp_path)).create_collection("mem", embedding_function=mean_colour(EmbeddingFunction),
                                                            data_loader=loader)
    for collection in (theirs, ours):
        collection.add(ids=[str(k) for k in range(len(images))], uris=list(store))
    expected = theirs.query(query_uris=["mem://3"], n_results=3, include=["data", "distances"])
    actual = ours.query(query_uris=["mem://3"], n_results=3, include=["data", "distances"])
    assert actual["ids"] == expected["ids"] == [["3", *expected["ids"][0][1:]]]
    assert np.allclose(actual["distances"], expected["distances"], rtol=1e-5)
    assert all(np.array_equal(a, store[f"mem://{i}"]) for a, i in zip(actual["data"][0], actual["ids"][0]))


def test_persisted_collection_keeps_uris(tmp_path, images, uris):
    client = chroma_frame.PersistentClient(path=str(tmp_path / "db"))
    collection = client.create_collection("photos", embedding_function=mean_colour(EmbeddingFunction),
                                          data_loader=ImageLoader())
    collection.add(ids=["a", "b"], uris=uris[:2])
    collection.compact()
    reopened = chroma_frame.PersistentClient(path=str(tmp_path / "db")).get_collection(
        "photos", embedding_function=mean_colour(EmbeddingFunction), data_loader=ImageLoader())
    got = reopened.get(include=["uris", "data"])
    assert got["uris"] == uris[:2]
    assert all(np.array_equal(a, b) for a, b in zip(got["data"], images[:2]))
    assert reopened.query(query_images=[images[1]], n_results=1, include=[])["ids"] == [["b"]]


@pytest.mark.parametrize("loader", [True, False])
def test_uris_beside_images_embed_the_images(tmp_path, images, uris, loader):
    """``upsert`` / ``update`` with images and other URIs: chroma-frame embeds the images and
    stores the URIs; Chroma embeds whichever field its set iteration meets first (the hash seed
    decides), so its outcome is one of the two (docs/compatibility.md)."""
    pair = Pair("both", tmp_path, loader=loader)
    pair.ours.upsert(ids=["a"], images=[images[0]], uris=[uris[5]])
    pair.ours.update(ids=["a"], images=[images[1]], uris=[uris[6]])
    got = pair.ours.get(include=["embeddings", "uris"])
    assert got["uris"] == [uris[6]] and np.allclose(got["embeddings"][0], mean_colour(EmbeddingFunction)([images[1]])[0])
    outcome = run(pair.theirs.upsert, ids=["a"], images=[images[0]], uris=[uris[5]])
    if outcome.ok:
        embedded = pair.theirs.get(include=["embeddings"])["embeddings"][0]
        choices = [mean_colour(EmbeddingFunction)([image])[0] for image in (images[0], images[5])]
        assert any(np.allclose(embedded, choice) for choice in choices[: 2 if loader else 1])
    else:
        assert not loader and "You must set a data loader" in str(outcome.error)


def test_uri_record_without_metadata_is_none_here(tmp_path, uris):
    """The one read-side difference (docs/compatibility.md): Chroma keeps the URI inside the
    record's metadata, so it answers ``{}`` where chroma-frame answers ``None``."""
    pair = Pair("meta", tmp_path, loader=False)
    pair.both("add", ids=["a", "b"], embeddings=[[1, 2, 3, 4], [5, 6, 7, 8]], uris=[uris[0], None])
    expected, actual = pair.both("get", include=["metadatas"])
    assert expected["metadatas"] == [{}, None] and actual["metadatas"] == [None, None]
