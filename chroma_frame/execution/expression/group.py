"""``GroupBy``: partition ranked results by metadata keys and keep ``MinK`` / ``MaxK`` per group."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

from chroma_frame.execution.expression.where import Key, KeyLike, key_name
from chroma_frame.execution.expression.wire import expect_list, one_operator

Keys = Union[KeyLike, List[KeyLike]]


def key_names(keys: Keys) -> List[Any]:
    """Wire names of one key or a list of keys (a non-list counts as one key, as in Chroma)."""
    many = keys if isinstance(keys, list) or keys is None else [keys]
    return [key_name(k) for k in many]


class Aggregate:
    """Which records of a group to keep."""

    OP = ""

    def to_dict(self) -> Dict[str, Any]:
        return {self.OP: {"keys": key_names(self.keys), "k": self.k}}  # type: ignore[attr-defined]

    @staticmethod
    def from_dict(data: Dict[str, Any]) -> "Aggregate":
        op, body, kind = one_operator(data, "Aggregate", _AGGREGATES)
        keys, k = _keys_and_k(op, body)
        return kind(keys=keys, k=k)


def _keys_and_k(op: str, body: Any) -> Tuple[List[KeyLike], int]:
    if not isinstance(body, dict):
        raise TypeError(f"{op} requires a dict, got {type(body).__name__}")
    for name in ("keys", "k"):
        if name not in body:
            raise ValueError(f"{op} requires '{name}' field")
    keys, k = body["keys"], body["k"]
    expect_list(keys, f"{op} keys")
    if not isinstance(k, int):
        raise TypeError(f"{op} k must be an integer, got {type(k).__name__}")
    if k <= 0:
        raise ValueError(f"{op} k must be positive, got {k}")
    return _as_keys(keys), k


def _as_keys(keys: Any) -> List[KeyLike]:
    return [Key(k) if isinstance(k, str) else k for k in keys]


@dataclass
class MinK(Aggregate):
    """Keep the ``k`` records with the smallest values of ``keys`` (ascending, lexicographic)."""

    keys: Keys
    k: int
    OP = "$min_k"


@dataclass
class MaxK(Aggregate):
    """Keep the ``k`` records with the largest values of ``keys``."""

    keys: Keys
    k: int
    OP = "$max_k"


_AGGREGATES = {"$min_k": MinK, "$max_k": MaxK}


@dataclass
class GroupBy:
    """Group by ``keys`` (metadata fields), keep ``aggregate`` per group, flatten by score."""

    keys: Keys = field(default_factory=list)
    aggregate: Optional[Aggregate] = None

    def to_dict(self) -> Dict[str, Any]:
        if not self.keys or self.aggregate is None:
            return {}
        return {"keys": key_names(self.keys), "aggregate": self.aggregate.to_dict()}

    @staticmethod
    def from_dict(data: Dict[str, Any]) -> "GroupBy":
        if not isinstance(data, dict):
            raise TypeError(f"Expected dict for GroupBy, got {type(data).__name__}")
        if not data:
            return GroupBy()
        for name in ("keys", "aggregate"):
            if name not in data:
                raise ValueError(f"GroupBy requires '{name}' field")
        keys, aggregate = data["keys"], data["aggregate"]
        expect_list(keys, "GroupBy keys")
        if not isinstance(aggregate, dict):
            raise TypeError(f"GroupBy aggregate must be a dict, got {type(aggregate).__name__}")
        return GroupBy(keys=_as_keys(keys), aggregate=Aggregate.from_dict(aggregate))
