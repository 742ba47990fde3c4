"""Chroma 1.x's ``EmbeddingFunction`` protocol, with its base-class behaviour.

Mirrors ``chromadb.api.types.EmbeddingFunction``: subclasses get their ``__call__`` wrapped so
results are normalised (``list`` of numpy arrays) and validated; the base ``name`` /
``get_config`` / ``build_from_config`` warn and return ``NotImplemented``, which is what makes a
function *legacy* (persisted as ``{"type": "legacy"}``).
"""

from __future__ import annotations

import time
import warnings
from inspect import signature
from typing import Any, Dict, List, Literal, Protocol, TypeVar, Union, cast, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from chroma_frame.validation import normalize_embeddings  # Chroma's, one list of 1-D arrays per call

Space = Literal["cosine", "l2", "ip"]
Document = str
Documents = List[Document]
Embedding = NDArray[Union[np.int32, np.float32]]
Embeddings = List[Embedding]
PyEmbedding = List[float]
Images = List[NDArray[Any]]
Embeddable = Union[Documents, Images]  # texts, or images as numpy arrays (OpenCLIPEmbeddingFunction takes both)
D = TypeVar("D", contravariant=True)
L = TypeVar("L", covariant=True)
# Chroma's error when a collection has to embed and has no embedding function (its exact text)
NO_EMBEDDING_FUNCTION = ("You must provide an embedding function to compute embeddings."
                         "https://docs.trychroma.com/guides/embeddings")

__all__ = [
    "Space",
    "Document",
    "Documents",
    "Embedding",
    "Embeddings",
    "Embeddable",
    "EmbeddingFunction",
    "DataLoader",
    "normalize_embeddings",
    "validate_embeddings",
    "validate_embedding_function",
]


_NUMERIC = (np.float16, np.float32, np.float64, np.int32, np.int64)


def validate_embeddings(embeddings: Embeddings) -> Embeddings:
    """Chroma's ``validate_embeddings``: a non-empty list of non-empty numeric 1-D arrays."""
    if not isinstance(embeddings, (list, np.ndarray)):
        raise ValueError(f"Expected embeddings to be a list, got {type(embeddings).__name__}")
    if len(embeddings) == 0:
        raise ValueError(
            f"Expected embeddings to be a list with at least one item, got {len(embeddings)} embeddings"
        )
    if not all(isinstance(e, np.ndarray) for e in embeddings):
        raise ValueError(
            "Expected each embedding in the embeddings to be a numpy array, got "
            f"{list(set(type(e).__name__ for e in embeddings))}"
        )
    for i, embedding in enumerate(embeddings):
        if embedding.ndim == 0:
            raise ValueError(f"Expected a 1-dimensional array, got a 0-dimensional array {embedding}")
        if embedding.size == 0:
            raise ValueError(
                "Expected each embedding in the embeddings to be a 1-dimensional numpy array with at "
                "least 1 int/float value. Got a 1-dimensional numpy array with no values at pos "
                f"{i}"
            )
        if embedding.dtype not in _NUMERIC:
            raise ValueError(
                "Expected each value in the embedding to be a int or float, got an embedding with "
                f"{embedding.dtype} - {embedding}"
            )
    return embeddings


@runtime_checkable
class EmbeddingFunction(Protocol[D]):
    """Protocol for embedding functions (Chroma 1.x).

    Implement ``__init__``, ``__call__(self, input)``, ``name``, ``build_from_config`` and
    ``get_config``, and register the class with ``@register_embedding_function`` so a collection
    can rebuild it when it is reopened.
    """

    def __call__(self, input: D) -> Embeddings: ...

    def embed_query(self, input: D) -> Embeddings:
        """Embed query input; defaults to ``__call__``."""
        return self.__call__(input)

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        call = cls.__call__

        def __call__(self: EmbeddingFunction[D], input: D) -> Embeddings:
            result = call(self, input)
            assert result is not None
            return validate_embeddings(cast(Embeddings, normalize_embeddings(result)))

        setattr(cls, "__call__", __call__)

    def embed_with_retries(self, input: D, **retry_kwargs: Any) -> Embeddings:
        """``__call__`` retried; ``retry_kwargs`` go to ``tenacity.retry`` when it is installed.

        Without tenacity, ``attempts`` (default 3) tries are made with exponential backoff.
        """
        try:
            from tenacity import retry
        except ImportError:
            return _simple_retry(lambda: self.__call__(input), **retry_kwargs)
        return cast(Embeddings, retry(**retry_kwargs)(self.__call__)(input))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(
            f"The class {self.__class__.__name__} does not implement __init__. "
            "This will be required in a future version.",
            DeprecationWarning,
            stacklevel=2,
        )

    @staticmethod
    def name() -> str:
        warnings.warn(
            "The EmbeddingFunction class does not implement name(). "
            "This will be required in a future version.",
            DeprecationWarning,
            stacklevel=2,
        )
        return NotImplemented

    def default_space(self) -> Space:
        return "l2"

    def supported_spaces(self) -> List[Space]:
        return ["cosine", "l2", "ip"]

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "EmbeddingFunction[D]":
        warnings.warn(
            "The EmbeddingFunction class does not implement build_from_config(). "
            "This will be required in a future version.",
            DeprecationWarning,
            stacklevel=2,
        )
        return NotImplemented

    def get_config(self) -> Dict[str, Any]:
        warnings.warn(
            f"The class {self.__class__.__name__} does not implement get_config(). "
            "This will be required in a future version.",
            DeprecationWarning,
            stacklevel=2,
        )
        return NotImplemented

    def validate_config_update(self, old_config: Dict[str, Any], new_config: Dict[str, Any]) -> None:
        return

    @staticmethod
    def validate_config(config: Dict[str, Any]) -> None:
        return

    def is_legacy(self) -> bool:
        return (
            self.name() is NotImplemented
            or self.get_config() is NotImplemented
            or self.build_from_config(self.get_config()) is NotImplemented
        )


class DataLoader(Protocol[L]):
    """Chroma's ``DataLoader``: a collection's URIs in, what its embedding function takes out
    (``chroma_frame.utils.data_loaders.ImageLoader``: images)."""

    def __call__(self, uris: List[str]) -> L: ...


def _simple_retry(fn: Any, attempts: int = 3, backoff: float = 0.5, **_: Any) -> Embeddings:
    for attempt in range(attempts):
        try:
            return cast(Embeddings, fn())
        except Exception:
            if attempt == attempts - 1:
                raise
            time.sleep(backoff * 2**attempt)
    raise AssertionError("unreachable")


def validate_embedding_function(embedding_function: Any) -> None:
    """Chroma's check that ``__call__`` takes exactly ``(self, input)``."""
    function_signature = signature(embedding_function.__class__.__call__).parameters.keys()
    protocol_signature = signature(EmbeddingFunction.__call__).parameters.keys()
    if not function_signature == protocol_signature:
        raise ValueError(
            "Expected EmbeddingFunction.__call__ to have the following signature: "
            f"{protocol_signature}, got {function_signature}\n"
            "Please see https://docs.trychroma.com/guides/embeddings for details of the EmbeddingFunction interface.\n"
            "Please note the recent change to the EmbeddingFunction interface: "
            "https://docs.trychroma.com/deployment/migration#migration-to-0.4.16---november-7,-2023 \n"
        )
