"""One definition each: ``normalize_embeddings`` and Chroma's missing-embedding-function message."""

import numpy as np
import pytest

from chroma_frame import validation
from chroma_frame.embeddings import normalize_embeddings, protocol
from chroma_frame.embeddings.registry import embedding_function_for

MESSAGE = "You must provide an embedding function to compute embeddings.https://docs.trychroma.com/guides/embeddings"


def test_normalize_embeddings_is_one_function():
    assert normalize_embeddings is protocol.normalize_embeddings is validation.normalize_embeddings


@pytest.mark.parametrize("given", [
    np.ones((3, 2), np.float32), [[1, 2], [3, 4]], [[1.5], [2.5, 3.5]], [np.ones(2), np.zeros(2)], [1, 2.5],
    np.arange(3, dtype=np.float64),
])
def test_chroma_shape_and_the_api_boundary_shape(given):
    rows = normalize_embeddings(given)  # Chroma's: a list of 1-D arrays
    assert isinstance(rows, list) and all(isinstance(r, np.ndarray) and r.ndim == 1 for r in rows)
    fast = normalize_embeddings(given, matrix=True)  # the same values, a 2-D array when the rows allow it
    assert [list(r) for r in fast] == [list(r) for r in rows]
    if isinstance(given, np.ndarray) and given.ndim == 2:
        assert fast is given


def test_missing_embedding_function_message_is_one_constant(client):
    assert protocol.NO_EMBEDDING_FUNCTION == MESSAGE
    with pytest.raises(ValueError) as raised:
        embedding_function_for(None, None)
    assert str(raised.value) == MESSAGE
    col = client.create_collection("no-function", embedding_function=None)
    with pytest.raises(ValueError) as raised:
        col.add(ids=["a"], documents=["text"])
    assert str(raised.value).startswith(MESSAGE)
