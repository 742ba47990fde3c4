"""The types Chroma users import from ``chromadb.api.types``."""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Mapping, Optional, Sequence, TypedDict, TypeVar, Union

import numpy as np
from numpy.typing import NDArray

from chroma_frame.base_types import SPARSE_VECTOR_TYPE_VALUE, TYPE_KEY, SparseVector
from chroma_frame.embeddings.protocol import EmbeddingFunction
from chroma_frame.embeddings.sparse import (
    SparseEmbeddingFunction,
    SparseVectors,
    validate_sparse_embedding_function,
    validate_sparse_vectors,
)

ID = str
IDs = List[ID]
Document = str
Documents = List[Document]
URI = str
URIs = List[URI]
Image = NDArray[Any]
Images = List[Image]
Embedding = NDArray[Union[np.int32, np.float32]]
PyEmbedding = Sequence[float]
Embeddings = List[Embedding]
PyEmbeddings = List[PyEmbedding]
T = TypeVar("T")
OneOrMany = Union[T, List[T]]
MetadataValue = Union[str, int, float, bool, SparseVector, List[str], List[int], List[float], List[bool], None]
Metadata = Mapping[str, MetadataValue]
Metadatas = List[Metadata]
CollectionMetadata = Dict[str, Any]
UpdateMetadata = Mapping[str, MetadataValue]
Where = Dict[str, Any]
WhereDocument = Dict[str, Any]
Space = Literal["cosine", "l2", "ip"]
IncludeEnum = Literal["documents", "embeddings", "metadatas", "distances", "uris", "data"]
Include = List[IncludeEnum]
Loadable = List[Optional[Image]]


class GetResult(TypedDict):
    ids: List[ID]
    embeddings: Optional[Union[Embeddings, PyEmbeddings, NDArray[Any]]]
    documents: Optional[List[Document]]
    uris: Optional[URIs]
    data: Optional[Loadable]
    metadatas: Optional[List[Metadata]]
    included: Include


class QueryResult(TypedDict):
    ids: List[IDs]
    embeddings: Optional[List[Embeddings]]
    documents: Optional[List[List[Document]]]
    uris: Optional[List[List[URI]]]
    data: Optional[List[Loadable]]
    metadatas: Optional[List[List[Metadata]]]
    distances: Optional[List[List[float]]]
    included: Include


class DeleteResult(TypedDict):
    deleted: int


DOCUMENT_KEY = "#document"
EMBEDDING_KEY = "#embedding"


def __getattr__(name: str) -> Any:
    # Schema and its configs are pydantic models, imported on first use; so is the Search API.
    if name == "SearchResult":
        from chroma_frame.interop.results import SearchResult

        return SearchResult
    if name == "ReadLevel":
        from chroma_frame.execution.executor.inputs import ReadLevel

        return ReadLevel
    from chroma_frame import schema

    if name in schema.__all__:
        return getattr(schema, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [name for name in dir() if not name.startswith("_") and name not in {"annotations", "np", "NDArray"}] + [
    "Schema", "VectorIndexConfig", "HnswIndexConfig", "SpannIndexConfig", "FtsIndexConfig", "SparseVectorIndexConfig",
    "StringInvertedIndexConfig", "IntInvertedIndexConfig", "FloatInvertedIndexConfig", "BoolInvertedIndexConfig",
    "Cmek", "CmekProvider", "IndexConfig", "ValueTypes", "SearchResult", "ReadLevel",
]
