"""Chroma's ``SparseEmbeddingFunction`` protocol: text in, ``SparseVector``s out.

Mirrors ``chromadb.api.types.SparseEmbeddingFunction``: subclasses get their ``__call__`` wrapped
so results are validated; ``name`` / ``build_from_config`` / ``get_config`` are abstract, so a
persisted schema can always rebuild the function (see :mod:`.registry`).
"""

from __future__ import annotations

from abc import abstractmethod
from inspect import signature
from typing import Any, Dict, List, Protocol, TypeVar, cast, runtime_checkable

from chroma_frame.base_types import SparseVector
from chroma_frame.embeddings.protocol import _simple_retry

D = TypeVar("D", contravariant=True)
SparseVectors = List[SparseVector]

__all__ = [
    "SparseEmbeddingFunction",
    "SparseVectors",
    "validate_sparse_vectors",
    "validate_sparse_embedding_function",
]


def validate_sparse_vectors(vectors: SparseVectors) -> SparseVectors:
    """chromadb's ``validate_sparse_vectors``: a non-empty list of ``SparseVector`` instances."""
    if not isinstance(vectors, list):
        raise ValueError(f"Expected sparse vectors to be a list, got {type(vectors).__name__}")
    if len(vectors) == 0:
        raise ValueError(f"Expected sparse vectors to be a non-empty list, got {len(vectors)} sparse vectors")
    for i, vector in enumerate(vectors):
        if not isinstance(vector, SparseVector):
            raise ValueError(f"Expected SparseVector instance at position {i}, got {type(vector).__name__}")
    return vectors


@runtime_checkable
class SparseEmbeddingFunction(Protocol[D]):
    """Protocol for sparse embedding functions.

    Implement ``__init__``, ``__call__(self, input)``, ``name``, ``build_from_config`` and
    ``get_config``, and register the class with ``@register_sparse_embedding_function``.
    """

    @abstractmethod
    def __call__(self, input: D) -> SparseVectors: ...

    def embed_query(self, input: D) -> SparseVectors:
        """Embed query input; defaults to ``__call__``."""
        return self.__call__(input)

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        call = cls.__call__

        def __call__(self: SparseEmbeddingFunction[D], input: D) -> SparseVectors:
            result = call(self, input)
            assert result is not None
            return validate_sparse_vectors(result)

        setattr(cls, "__call__", __call__)

    def embed_with_retries(self, input: D, **retry_kwargs: Any) -> SparseVectors:
        """``__call__`` retried (tenacity when installed, else ``attempts`` tries with backoff)."""
        try:
            from tenacity import retry
        except ImportError:
            return cast(SparseVectors, _simple_retry(lambda: self.__call__(input), **retry_kwargs))
        return cast(SparseVectors, retry(**retry_kwargs)(self.__call__)(input))

    @abstractmethod
    def __init__(self, *args: Any, **kwargs: Any) -> None: ...

    @staticmethod
    @abstractmethod
    def name() -> str: ...

    @staticmethod
    @abstractmethod
    def build_from_config(config: Dict[str, Any]) -> "SparseEmbeddingFunction[D]": ...

    @abstractmethod
    def get_config(self) -> Dict[str, Any]: ...

    def validate_config_update(self, old_config: Dict[str, Any], new_config: Dict[str, Any]) -> None:
        return

    @staticmethod
    def validate_config(config: Dict[str, Any]) -> None:
        return


def validate_sparse_embedding_function(sparse_vector_function: Any) -> None:
    """Chroma's check that ``__call__`` takes exactly ``(self, input)``."""
    function_signature = signature(sparse_vector_function.__class__.__call__).parameters.keys()
    protocol_signature = signature(SparseEmbeddingFunction.__call__).parameters.keys()
    if not function_signature == protocol_signature:
        raise ValueError(
            "Expected SparseEmbeddingFunction.__call__ to have the following signature: "
            f"{protocol_signature}, got {function_signature}\n"
            "Please see https://docs.trychroma.com/guides/embeddings "
            "for details of the SparseEmbeddingFunction interface.\n"
        )
