"""``Limit`` (pagination) and ``Select`` (which fields a search returns)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Set, Union

from chroma_frame.execution.expression.where import Key, key_name

_PREDEFINED = {k.name: k for k in (Key.ID, Key.DOCUMENT, Key.EMBEDDING, Key.METADATA, Key.SCORE)}


def _unexpected(data: Dict[str, Any], allowed: set, what: str) -> None:
    extra = set(data.keys()) - allowed
    if extra:
        raise ValueError(f"Unexpected keys in {what} dict: {extra}")


@dataclass
class Limit:
    """Skip ``offset`` results, then return at most ``limit`` (None: all)."""

    offset: int = 0
    limit: Optional[int] = None

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"offset": self.offset}
        if self.limit is not None:
            out["limit"] = self.limit
        return out

    @staticmethod
    def from_dict(data: Dict[str, Any]) -> "Limit":
        if not isinstance(data, dict):
            raise TypeError(f"Expected dict for Limit, got {type(data).__name__}")
        offset = data.get("offset", 0)
        if not isinstance(offset, int):
            raise TypeError(f"Limit offset must be an integer, got {type(offset).__name__}")
        if offset < 0:
            raise ValueError(f"Limit offset must be non-negative, got {offset}")
        limit = data.get("limit")
        if limit is not None:
            if not isinstance(limit, int):
                raise TypeError(f"Limit limit must be an integer, got {type(limit).__name__}")
            if limit <= 0:
                raise ValueError(f"Limit limit must be positive, got {limit}")
        _unexpected(data, {"offset", "limit"}, "Limit")
        return Limit(offset=offset, limit=limit)


@dataclass
class Select:
    """Fields to return besides ids: ``#document``, ``#embedding``, ``#metadata``, ``#score``,
    or metadata keys (returned inside ``metadatas``)."""

    keys: Set[Union[Key, str]] = field(default_factory=set)

    def to_dict(self) -> Dict[str, Any]:
        return {"keys": list(dict.fromkeys(key_name(k) for k in self.keys))}

    @staticmethod
    def from_dict(data: Dict[str, Any]) -> "Select":
        if not isinstance(data, dict):
            raise TypeError(f"Expected dict for Select, got {type(data).__name__}")
        keys = data.get("keys", [])
        if not isinstance(keys, (list, tuple, set)):
            raise TypeError(f"Select keys must be a list/tuple/set, got {type(keys).__name__}")
        parsed = []
        for k in keys:
            if not isinstance(k, str):
                raise TypeError(f"Select key must be a string, got {type(k).__name__}")
            parsed.append(_PREDEFINED.get(k) or Key(k))
        _unexpected(data, {"keys"}, "Select")
        return Select(keys=set(parsed))
