"""Chroma's ``chromadb.base_types``: the ``SparseVector`` value type and the metadata type aliases.

A sparse vector is a metadata value. Users pass it as this dataclass or as its wire dict
``{"#type": "sparse_vector", "indices": [...], "values": [...], "tokens"?: [...]}``; reads give
the dataclass back (as chromadb's HTTP client does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Final, List, Literal, Mapping, Optional, Sequence, Union

TYPE_KEY: Final[str] = "#type"
SPARSE_VECTOR_TYPE_VALUE: Final[str] = "sparse_vector"


@dataclass
class SparseVector:
    """Sparse vector as parallel ``indices`` (non-negative, strictly ascending) and ``values``.

    ``labels`` optionally names each index (the wire format calls them ``tokens``).
    Validation happens in ``__post_init__`` with chromadb's messages.
    """

    indices: List[int]
    values: List[float]
    labels: Optional[List[str]] = None

    def __post_init__(self) -> None:
        check_sparse_vector(self.indices, self.values, self.labels)

    def to_dict(self) -> Dict[str, Any]:
        """The wire form, with the ``#type`` tag (labels travel as ``tokens``)."""
        result: Dict[str, Any] = {TYPE_KEY: SPARSE_VECTOR_TYPE_VALUE, "indices": self.indices, "values": self.values}
        if self.labels is not None:
            result["tokens"] = self.labels
        return result

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "SparseVector":
        """Parse the wire form (strict: the ``#type`` tag is required)."""
        if d.get(TYPE_KEY) != SPARSE_VECTOR_TYPE_VALUE:
            raise ValueError(f"Expected {TYPE_KEY}='{SPARSE_VECTOR_TYPE_VALUE}', got {d.get(TYPE_KEY)}")
        return cls(indices=d["indices"], values=d["values"], labels=d.get("tokens"))


def check_sparse_vector(indices: Any, values: Any, labels: Any) -> None:
    """chromadb's ``SparseVector.__post_init__`` checks, in its order and with its messages."""
    if not isinstance(indices, list):
        raise ValueError(f"Expected SparseVector indices to be a list, got {type(indices).__name__}")
    if not isinstance(values, list):
        raise ValueError(f"Expected SparseVector values to be a list, got {type(values).__name__}")
    if len(indices) != len(values):
        raise ValueError(
            "SparseVector indices and values must have the same length, "
            f"got {len(indices)} indices and {len(values)} values"
        )
    if labels is not None:
        if not isinstance(labels, list):
            raise ValueError(f"Expected SparseVector labels to be a list, got {type(labels).__name__}")
        if len(labels) != len(indices):
            raise ValueError(
                "SparseVector labels must have the same length as indices and values, "
                f"got {len(labels)} labels, {len(indices)} indices"
            )
    for i, idx in enumerate(indices):
        if not isinstance(idx, int):
            raise ValueError(f"SparseVector indices must be integers, got {type(idx).__name__} at position {i}")
        if idx < 0:
            raise ValueError(f"SparseVector indices must be non-negative, got {idx} at position {i}")
    for i, val in enumerate(values):
        if not isinstance(val, (int, float)):
            raise ValueError(f"SparseVector values must be numbers, got {type(val).__name__} at position {i}")
    for i in range(1, len(indices)):
        if indices[i] <= indices[i - 1]:
            raise ValueError(
                "SparseVector indices must be sorted in strictly ascending order, "
                f"found indices[{i}]={indices[i]} <= indices[{i-1}]={indices[i-1]}"
            )


def is_sparse_dict(value: Any) -> bool:
    """True for the wire form of a sparse vector."""
    return isinstance(value, dict) and value.get(TYPE_KEY) == SPARSE_VECTOR_TYPE_VALUE


def serialize_metadata(metadata: Optional[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    """Metadata for the wire: ``SparseVector`` values as their tagged dicts (chromadb's function)."""
    if metadata is None:
        return None
    return {k: v.to_dict() if isinstance(v, SparseVector) else v for k, v in metadata.items()}


def deserialize_metadata(metadata: Optional[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    """Metadata from the wire: tagged sparse dicts as ``SparseVector`` (chromadb's function)."""
    if metadata is None:
        return None
    return {k: SparseVector.from_dict(v) if is_sparse_dict(v) else v for k, v in metadata.items()}


def wire_metadatas(metadatas: Any) -> Any:
    """A result's ``metadatas`` (a list, or a list of lists for query) with sparse vectors as dicts.

    Returns the input itself when it holds no sparse vector (the common case costs one scan).
    """
    if not metadatas:
        return metadatas
    if isinstance(metadatas[0], list) or (metadatas[0] is None and any(isinstance(m, list) for m in metadatas)):
        return [wire_metadatas(batch) for batch in metadatas]
    if not any(isinstance(v, SparseVector) for m in metadatas if m for v in m.values()):
        return metadatas
    return [serialize_metadata(m) for m in metadatas]


MetadataListValue = List[Union[str, int, float, bool]]
Metadata = Mapping[str, Optional[Union[str, int, float, bool, SparseVector, MetadataListValue]]]
UpdateMetadata = Mapping[str, Union[int, float, str, bool, SparseVector, MetadataListValue, None]]
PyVector = Union[Sequence[float], Sequence[int]]
LiteralValue = Union[str, int, float, bool]
LogicalOperator = Union[Literal["$and"], Literal["$or"]]
Where = Dict[str, Any]
WhereDocument = Dict[str, Any]

__all__ = [
    "TYPE_KEY",
    "SPARSE_VECTOR_TYPE_VALUE",
    "SparseVector",
    "check_sparse_vector",
    "is_sparse_dict",
    "serialize_metadata",
    "deserialize_metadata",
    "wire_metadatas",
    "Metadata",
    "MetadataListValue",
    "UpdateMetadata",
    "PyVector",
    "LiteralValue",
    "LogicalOperator",
    "Where",
    "WhereDocument",
]
