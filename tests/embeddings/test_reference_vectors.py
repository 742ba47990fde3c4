"""The default function reproduces sentence-transformers' all-MiniLM-L6-v2 vectors."""

from __future__ import annotations

import numpy as np
import pytest

from chroma_frame.utils.embedding_functions import DefaultEmbeddingFunction, ONNXMiniLM_L6_V2


def _cosines(got: list, want: np.ndarray) -> np.ndarray:
    g = np.stack(got)
    return (g * want).sum(1) / (np.linalg.norm(g, axis=1) * np.linalg.norm(want, axis=1))


@pytest.mark.parametrize("cls", [DefaultEmbeddingFunction, ONNXMiniLM_L6_V2])
def test_every_reference_text_matches(cls, reference, model_folder):
    got = cls()(reference["texts"])
    assert len(got) == len(reference["texts"])
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float32 and v.shape == (384,) for v in got)
    cos = _cosines(got, reference["matrix"])
    worst = int(np.argmin(cos))
    assert cos.min() >= 0.9999, f"text {worst} {reference['texts'][worst][:60]!r}: cosine {cos[worst]}"
    assert np.allclose(np.linalg.norm(np.stack(got), axis=1), 1.0, atol=1e-5)


def test_fixture_covers_the_edge_cases(reference):
    texts = reference["texts"]
    assert "" in texts
    assert any(any(ord(c) > 127 for c in t) for t in texts)
    assert max(len(t.split()) for t in texts) > 256


def test_order_and_batching_do_not_change_vectors(reference, model_folder):
    ef = DefaultEmbeddingFunction()
    texts = reference["texts"]
    one_by_one = np.stack([ef([t])[0] for t in texts])
    shuffled_order = list(reversed(range(len(texts))))
    together = np.stack(ef([texts[i] for i in shuffled_order]))[np.argsort(shuffled_order)]
    assert np.abs(one_by_one - together).max() < 1e-5


def test_long_text_is_truncated_at_256_word_pieces(model_folder):
    ef = DefaultEmbeddingFunction()
    words = [f"word{i}" for i in range(600)]
    full, longer = ef([" ".join(words), " ".join(words + ["extra"] * 50)])
    assert np.dot(full, longer) > 0.99999


def test_query_embedding_equals_document_embedding(model_folder):
    ef = DefaultEmbeddingFunction()
    assert np.array_equal(ef.embed_query(["pineapple"])[0], ef(["pineapple"])[0])


def test_batches_cover_every_text_once_within_budget():
    from chroma_frame.embeddings.minilm import plan_batches

    rng = np.random.default_rng(0)
    lengths = rng.integers(2, 257, size=1000)
    batches = plan_batches(lengths, token_budget=2048, max_rows=128)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    assert all(len(b) == 1 or len(b) * lengths[b].max() <= 2048 for b in batches)
    assert all(len(b) <= 128 for b in batches)
