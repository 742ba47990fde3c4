"""Index configurations of a collection ``Schema`` (pydantic models, as in ``chromadb.api.types``).

Same class names, fields, defaults and validation messages as chromadb 1.5.9, so that a schema
built with chroma-frame serialises to the JSON chromadb sends, and bad ones fail the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any, Dict, List, Optional, Type, Union

from pydantic import BaseModel, field_validator, model_validator
from pydantic_core import PydanticCustomError

from chroma_frame.embeddings.default import DefaultEmbeddingFunction
from chroma_frame.embeddings.protocol import Space, validate_embedding_function
from chroma_frame.embeddings.sparse import validate_sparse_embedding_function
from chroma_frame.schema.keys import DOCUMENT_KEY, EMBEDDING_KEY


def _create_extra_fields_validator(valid_fields: List[str]) -> Any:
    """A ``before`` validator naming the fields a config does not have (chromadb's message)."""

    @model_validator(mode="before")
    def validate_extra_fields(cls: Type[BaseModel], data: Any) -> Any:
        if isinstance(data, dict):
            invalid_fields = [k for k in data if k not in valid_fields]
            if invalid_fields:
                invalid_fields_str = ", ".join(f"'{f}'" for f in invalid_fields)
                if len(invalid_fields) == 1:
                    msg = f"'{invalid_fields[0]}' is not a valid field for {cls.__name__}. "
                else:
                    msg = f"Invalid fields for {cls.__name__}: {invalid_fields_str}. "
                raise PydanticCustomError("invalid_field", msg, {"invalid_fields": invalid_fields})
        return data

    return validate_extra_fields


def _source_key(v: Any) -> Optional[str]:
    """``source_key`` accepts a str or a search ``Key`` (anything named ``Key`` with a ``name``)."""
    if v is None:
        return None
    if type(v).__name__ == "Key" and isinstance(getattr(v, "name", None), str):
        v = v.name
    elif not isinstance(v, str):
        raise ValueError(f"source_key must be str or Key, got {type(v).__name__}")
    if v.startswith("#") and v != DOCUMENT_KEY:
        raise ValueError(
            "source_key cannot begin with '#'. "
            "The only valid key starting with '#' is Key.DOCUMENT or '#document'."
        )
    return v


def _source_key_validator() -> Any:
    return field_validator("source_key", mode="before")(lambda cls, v: _source_key(v))


def _ef_validator(check: Any, message: str) -> Any:
    """``embedding_function``: None, or a callable that passes ``check``."""

    def validate(cls: Any, v: Any) -> Any:
        if v is None:
            return v
        if callable(v):
            check(v)
            return v
        raise ValueError(message)

    return field_validator("embedding_function", mode="before")(validate)


class FtsIndexConfig(BaseModel):
    """Configuration for Full-Text Search index. No parameters required."""

    model_config = {"extra": "forbid"}


class HnswIndexConfig(BaseModel):
    """Configuration for HNSW vector index."""

    _validate_extra_fields = _create_extra_fields_validator(
        ["ef_construction", "max_neighbors", "ef_search", "num_threads", "batch_size", "sync_threshold",
         "resize_factor"]
    )

    ef_construction: Optional[int] = None
    max_neighbors: Optional[int] = None
    ef_search: Optional[int] = None
    num_threads: Optional[int] = None
    batch_size: Optional[int] = None
    sync_threshold: Optional[int] = None
    resize_factor: Optional[float] = None


class SpannIndexConfig(BaseModel):
    """Configuration for SPANN vector index (accepted; single-node collections use HNSW parameters)."""

    _validate_extra_fields = _create_extra_fields_validator(
        ["search_nprobe", "search_rng_factor", "search_rng_epsilon", "nreplica_count", "write_nprobe",
         "write_rng_factor", "write_rng_epsilon", "split_threshold", "num_samples_kmeans", "initial_lambda",
         "reassign_neighbor_count", "merge_threshold", "num_centers_to_merge_to", "ef_construction", "ef_search",
         "max_neighbors", "center_drift_threshold", "quantize"]
    )

    search_nprobe: Optional[int] = None
    write_nprobe: Optional[int] = None
    ef_construction: Optional[int] = None
    ef_search: Optional[int] = None
    max_neighbors: Optional[int] = None
    reassign_neighbor_count: Optional[int] = None
    split_threshold: Optional[int] = None
    merge_threshold: Optional[int] = None


class VectorIndexConfig(BaseModel):
    """Configuration for vector index with space, embedding function, and algorithm config."""

    model_config = {"arbitrary_types_allowed": True, "extra": "forbid"}

    space: Optional[Space] = None
    embedding_function: Optional[Any] = DefaultEmbeddingFunction()
    source_key: Optional[str] = None
    hnsw: Optional[HnswIndexConfig] = None
    spann: Optional[SpannIndexConfig] = None

    validate_source_key_field = _source_key_validator()
    validate_embedding_function_field = _ef_validator(validate_embedding_function,
                                                      "embedding_function must be callable or None")


class SparseVectorIndexConfig(BaseModel):
    """Configuration for sparse vector index."""

    model_config = {"arbitrary_types_allowed": True}

    _validate_extra_fields = _create_extra_fields_validator(["embedding_function", "source_key", "bm25", "algorithm"])

    embedding_function: Optional[Any] = None
    source_key: Optional[str] = None
    bm25: Optional[bool] = None

    validate_source_key_field = _source_key_validator()
    validate_embedding_function_field = _ef_validator(
        validate_sparse_embedding_function, "embedding_function must be a callable SparseEmbeddingFunction or None"
    )


class StringInvertedIndexConfig(BaseModel):
    """Configuration for string inverted index."""

    model_config = {"extra": "forbid"}


class IntInvertedIndexConfig(BaseModel):
    """Configuration for integer inverted index."""

    model_config = {"extra": "forbid"}


class FloatInvertedIndexConfig(BaseModel):
    """Configuration for float inverted index."""

    model_config = {"extra": "forbid"}


class BoolInvertedIndexConfig(BaseModel):
    """Configuration for boolean inverted index."""

    model_config = {"extra": "forbid"}


IndexConfig = Union[
    FtsIndexConfig, VectorIndexConfig, SparseVectorIndexConfig, StringInvertedIndexConfig,
    IntInvertedIndexConfig, FloatInvertedIndexConfig, BoolInvertedIndexConfig,
]


class CmekProvider(str, Enum):
    """Cloud providers of customer-managed encryption keys (kept in the schema, unused locally)."""

    GCP = "gcp"


_CMEK_GCP_PATTERN = re.compile(r"^projects/.+/locations/.+/keyRings/.+/cryptoKeys/.+$")


@dataclass
class Cmek:
    """Customer-managed encryption key, carried for wire compatibility."""

    provider: CmekProvider
    resource: str

    @classmethod
    def gcp(cls, resource: str) -> "Cmek":
        return cls(provider=CmekProvider.GCP, resource=resource)

    def validate_pattern(self) -> bool:
        return self.provider == CmekProvider.GCP and _CMEK_GCP_PATTERN.match(self.resource) is not None

    def to_dict(self) -> Dict[str, Any]:
        if self.provider == CmekProvider.GCP:
            return {"gcp": self.resource}
        raise ValueError(f"Unknown CMEK provider: {self.provider}")

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Cmek":
        if "gcp" in data:
            resource = data["gcp"]
            if not isinstance(resource, str):
                raise ValueError(f"CMEK gcp resource must be a string, got: {type(resource)}")
            return cls.gcp(resource)
        raise ValueError(f"Unsupported or missing CMEK provider in data: {data}")


__all__ = [
    "BoolInvertedIndexConfig", "Cmek", "CmekProvider", "DOCUMENT_KEY", "EMBEDDING_KEY", "FloatInvertedIndexConfig",
    "FtsIndexConfig", "HnswIndexConfig", "IndexConfig", "IntInvertedIndexConfig", "SparseVectorIndexConfig",
    "SpannIndexConfig", "StringInvertedIndexConfig", "VectorIndexConfig",
]
