"""The types Chroma users import from ``chromadb.api.types``."""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Mapping, Optional, Sequence, TypedDict, TypeVar, Union

import numpy as np
from numpy.typing import NDArray

# Re-exported (chromadb.api.types has them too).
from chroma_frame.base_types import SPARSE_VECTOR_TYPE_VALUE as SPARSE_VECTOR_TYPE_VALUE
from chroma_frame.base_types import TYPE_KEY as TYPE_KEY
from chroma_frame.base_types import SparseVector
from chroma_frame.embeddings.protocol import DataLoader as DataLoader
from chroma_frame.embeddings.protocol import Embeddable as Embeddable
from chroma_frame.embeddings.protocol import EmbeddingFunction as EmbeddingFunction
from chroma_frame.embeddings.sparse import SparseEmbeddingFunction as SparseEmbeddingFunction
from chroma_frame.embeddings.sparse import SparseVectors as SparseVectors
from chroma_frame.embeddings.sparse import validate_sparse_embedding_function as validate_sparse_embedding_function
from chroma_frame.embeddings.sparse import validate_sparse_vectors as validate_sparse_vectors
from chroma_frame.types import IndexingStatus as IndexingStatus
from chroma_frame.validation import is_document as is_document
from chroma_frame.validation import is_image as is_image

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


_NOT_EXPORTED = {"annotations", "np", "NDArray", "T", "TypeVar"}
__all__ = [name for name in dir() if not name.startswith("_") and name not in _NOT_EXPORTED] + [
    # provided by __getattr__ above, on first use
    "Schema", "VectorIndexConfig", "HnswIndexConfig", "SpannIndexConfig", "FtsIndexConfig",  # noqa: F822
    "SparseVectorIndexConfig", "StringInvertedIndexConfig", "IntInvertedIndexConfig",  # noqa: F822
    "FloatInvertedIndexConfig", "BoolInvertedIndexConfig", "Cmek", "CmekProvider", "IndexConfig",  # noqa: F822
    "ValueTypes", "SearchResult", "ReadLevel",  # noqa: F822
]
