"""``ImageLoader`` and ``OpenCLIPEmbeddingFunction`` against chromadb 1.5.9's own.

OpenCLIP needs torch, which is too heavy to install for tests: the missing-package errors are
compared as they are, and everything else runs on stand-in ``open_clip`` and ``torch`` modules
(numpy underneath) put in ``sys.modules``, which both libraries import the same way.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("PIL")
chromadb = pytest.importorskip("chromadb")

import chroma_frame  # noqa: E402
from chroma_frame.utils.data_loaders import ImageLoader  # noqa: E402
from chroma_frame.utils.embedding_functions import OpenCLIPEmbeddingFunction  # noqa: E402
from tests.multimodal.support import make_images, save_png  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _error(fn: Any) -> tuple[str, str]:
    with pytest.raises(Exception) as info:
        fn()
    return type(info.value).__name__, str(info.value)


# -- ImageLoader ---------------------------------------------------------------------------------

def test_image_loader_reads_what_chromadbs_reads(tmp_path):
    from chromadb.utils.data_loaders import ImageLoader as ChromaImageLoader
    from PIL import Image

    images = make_images(3)
    uris: list = save_png(images, tmp_path)
    grey = (images[0].mean(axis=2)).astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    uris += [str(tmp_path / "grey.png"), None]
    ours, theirs = ImageLoader(max_workers=2)(uris), ChromaImageLoader(max_workers=2)(uris)
    assert [None if a is None else (a.dtype, a.shape) for a in ours] == \
        [None if a is None else (a.dtype, a.shape) for a in theirs]
    assert all(np.array_equal(a, b) for a, b in zip(ours[:4], theirs[:4])) and ours[4] is None
    assert all(np.array_equal(a, b) for a, b in zip(ours, images))
    assert np.array_equal(ours[3], grey)


def test_image_loader_without_pillow(monkeypatch):
    from chromadb.utils.data_loaders import ImageLoader as ChromaImageLoader

    monkeypatch.setitem(sys.modules, "PIL.Image", None)  # importing it raises ImportError
    assert _error(ImageLoader) == _error(ChromaImageLoader) == (
        "ValueError", "The PIL python package is not installed. Please install it with `pip install pillow`")


def test_passthrough_loader():
    from chromadb.utils.data_loaders import ChromaLangchainPassthroughDataLoader as Theirs

    from chroma_frame.utils.data_loaders import ChromaLangchainPassthroughDataLoader as Ours

    assert Ours()(["a", "b"]) == Theirs()(["a", "b"]) == ("images", ["a", "b"])


def test_nothing_heavy_is_imported_until_used():
    code = ("import sys, chroma_frame, chroma_frame.utils.data_loaders, chroma_frame.utils.embedding_functions;"
            "print(sorted(m for m in ('PIL', 'torch', 'open_clip') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert out.stdout.strip() == "[]"


# -- OpenCLIP ------------------------------------------------------------------------------------

class FakeTensor:
    """The few tensor operations OpenCLIP's embedding functions use, on a numpy array."""

    def __init__(self, array: Any) -> None:
        self.array = np.asarray(array, dtype=np.float32)

    def unsqueeze(self, dim: int) -> "FakeTensor":
        return FakeTensor(np.expand_dims(self.array, dim))

    def to(self, device: Any) -> "FakeTensor":
        return self

    def norm(self, dim: int, keepdim: bool) -> "FakeTensor":
        return FakeTensor(np.linalg.norm(self.array, axis=dim, keepdims=keepdim))

    def __itruediv__(self, other: "FakeTensor") -> "FakeTensor":
        self.array = self.array / other.array
        return self

    def squeeze(self) -> "FakeTensor":
        return FakeTensor(self.array.squeeze())

    def cpu(self) -> "FakeTensor":
        return self

    def numpy(self) -> np.ndarray:
        return self.array


class FakeModel:
    """Images: mean colour and brightness spread; texts: a few character counts (both 4-d)."""

    device = None

    def to(self, device: Any) -> None:
        self.device = device

    def encode_image(self, batch: FakeTensor) -> FakeTensor:  # batch: 1 x 3 x H x W
        pixels = batch.array
        return FakeTensor(np.concatenate([pixels.mean(axis=(2, 3)), pixels.std(axis=(1, 2, 3))[:, None]], axis=1))

    def encode_text(self, tokens: FakeTensor) -> FakeTensor:
        return tokens


@pytest.fixture
def fake_open_clip(monkeypatch) -> dict:
    """``open_clip`` and ``torch`` stand-ins in ``sys.modules``; returns the calls they got."""
    calls: dict = {}

    def create_model_and_transforms(model_name: str, pretrained: str) -> tuple:
        calls["create"] = (model_name, pretrained)
        return FakeModel(), None, lambda image: FakeTensor(np.asarray(image, np.float32).transpose(2, 0, 1) / 255)

    def get_tokenizer(model_name: str) -> Any:
        calls["tokenizer"] = model_name
        return lambda text: FakeTensor([[len(text), sum(c in "aeiou" for c in text), text.count(" ") + 1, 1.0]])

    open_clip = types.ModuleType("open_clip")
    open_clip.create_model_and_transforms = create_model_and_transforms  # type: ignore[attr-defined]
    open_clip.get_tokenizer = get_tokenizer  # type: ignore[attr-defined]
    torch = types.ModuleType("torch")
    torch.no_grad = contextlib.nullcontext  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "open_clip", open_clip)
    monkeypatch.setitem(sys.modules, "torch", torch)
    return calls


def _chroma_open_clip() -> Any:
    from chromadb.utils.embedding_functions.open_clip_embedding_function import OpenCLIPEmbeddingFunction as Theirs

    return Theirs


def test_missing_packages_raise_chromas_errors(monkeypatch, fake_open_clip):
    Theirs = _chroma_open_clip()
    for missing in ("open_clip", "torch", "PIL.Image"):
        with monkeypatch.context() as m:
            m.setitem(sys.modules, missing, None)
            ours, theirs = _error(OpenCLIPEmbeddingFunction), _error(Theirs)
            assert ours == theirs and ours[0] == "ValueError" and "is not installed" in ours[1], missing


def test_missing_open_clip_as_installed_here():
    try:
        import open_clip  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("open_clip is installed")
    assert _error(OpenCLIPEmbeddingFunction) == _error(_chroma_open_clip())


def test_config_and_embeddings_match_chromadb(fake_open_clip):
    Theirs = _chroma_open_clip()
    ours = OpenCLIPEmbeddingFunction(model_name="ViT-L-14", checkpoint="openai", device="cpu")
    assert fake_open_clip == {"create": ("ViT-L-14", "openai"), "tokenizer": "ViT-L-14"}
    theirs = Theirs(model_name="ViT-L-14", checkpoint="openai", device="cpu")
    assert ours.name() == theirs.name() == "open_clip"
    assert ours.get_config() == theirs.get_config() == {"model_name": "ViT-L-14", "checkpoint": "openai",
                                                        "device": "cpu"}
    assert ours.default_space() == theirs.default_space() and ours.supported_spaces() == theirs.supported_spaces()
    assert OpenCLIPEmbeddingFunction.build_from_config(ours.get_config()).get_config() == ours.get_config()
    assert _error(lambda: OpenCLIPEmbeddingFunction.build_from_config({"model_name": "x"})) == \
        _error(lambda: Theirs.build_from_config({"model_name": "x"}))
    for update in ({"model_name": "other"}, {"checkpoint": "other"}):
        assert _error(lambda: ours.validate_config_update(ours.get_config(), update)) == \
            _error(lambda: theirs.validate_config_update(theirs.get_config(), update))
    ours.validate_config(ours.get_config())
    for bad in ({"model_name": "x", "device": None}, {**ours.get_config(), "extra": 1},
                {"model_name": 1, "checkpoint": "c", "device": "cpu"}, {**ours.get_config(), "device": 3}):
        assert _error(lambda: ours.validate_config(bad))[1] == _error(lambda: theirs.validate_config(bad))[1]
    inputs = [*make_images(2), "a photo of a cat", "red"]
    assert all(np.array_equal(a, b) for a, b in zip(ours(inputs), theirs(inputs)))
    assert [e.dtype for e in ours(inputs)] == [np.float32] * 4


def test_persisted_as_chroma_persists_it(tmp_path, fake_open_clip):
    from chromadb.api.shared_system_client import SharedSystemClient

    Theirs = _chroma_open_clip()
    SharedSystemClient.clear_system_cache()
    theirs = chromadb.EphemeralClient().create_collection("clip", embedding_function=Theirs())
    SharedSystemClient.clear_system_cache()
    client = chroma_frame.PersistentClient(path=str(tmp_path))
    ours = client.create_collection("clip", embedding_function=OpenCLIPEmbeddingFunction(), data_loader=ImageLoader())
    assert ours.configuration_json["embedding_function"] == theirs.configuration_json["embedding_function"] == {
        "name": "open_clip", "type": "known",
        "config": {"model_name": "ViT-B-32", "checkpoint": "laion2b_s34b_b79k", "device": "cpu"}}
    assert ours.configuration_json["hnsw"]["space"] == theirs.configuration_json["hnsw"]["space"] == "cosine"
    images = make_images(4)
    ours.add(ids=["a", "b"], images=images[:2])
    ours.add(ids=["c", "d"], uris=save_png(images[2:], tmp_path))
    reopened = chroma_frame.PersistentClient(path=str(tmp_path)).get_collection("clip", data_loader=ImageLoader())
    assert isinstance(reopened.embedding_function, OpenCLIPEmbeddingFunction)
    assert reopened.embedding_function.get_config() == ours.embedding_function.get_config()
    assert reopened.query(query_images=[images[3]], n_results=1, include=[])["ids"] == [["d"]]
    assert len(reopened.query(query_texts=["a red photo"], n_results=4, include=[])["ids"][0]) == 4
