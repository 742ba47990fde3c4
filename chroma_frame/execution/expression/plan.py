"""``Search``: one search payload (filter, rank, group-by, limit, select), built fluently."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Set, Union

from chroma_frame.execution.expression.group import GroupBy
from chroma_frame.execution.expression.rank import Rank
from chroma_frame.execution.expression.select import Limit, Select
from chroma_frame.execution.expression.where import Key, Where


def _coerce(value: Any, name: str, kind: type, parse: Any, default: Any, accepted: str) -> Any:
    if value is None:
        return default() if callable(default) else default
    if isinstance(value, kind):
        return value
    if isinstance(value, dict):
        return parse(value)
    raise TypeError(f"{name} must be a {accepted}, or None, got {type(value).__name__}")


class Search:
    """A search: ``Search().where(...).rank(...).group_by(...).limit(n).select(...)``.

    Every builder method returns a new ``Search``. The arguments also accept Chroma's dict
    forms; ``limit`` may be an int and ``select`` a list or set of keys.
    """

    def __init__(
        self,
        where: Optional[Union[Where, Dict[str, Any]]] = None,
        rank: Optional[Union[Rank, Dict[str, Any]]] = None,
        group_by: Optional[Union[GroupBy, Dict[str, Any]]] = None,
        limit: Optional[Union[Limit, Dict[str, Any], int]] = None,
        select: Optional[Union[Select, Dict[str, Any], List[str], Set[str]]] = None,
    ) -> None:
        self._where = _coerce(where, "where", Where, Where.from_dict, None, "Where object, dict")
        self._rank = _coerce(rank, "rank", Rank, Rank.from_dict, None, "Rank object, dict")
        self._group_by = _coerce(group_by, "group_by", GroupBy, GroupBy.from_dict, GroupBy, "GroupBy object, dict")
        if isinstance(limit, int) and not isinstance(limit, Limit):
            limit = Limit.from_dict({"limit": limit, "offset": 0})
        self._limit = _coerce(limit, "limit", Limit, Limit.from_dict, Limit, "Limit object, dict, int")
        if isinstance(select, (list, set)):
            select = Select.from_dict({"keys": list(select)})
        self._select = _coerce(select, "select", Select, Select.from_dict, Select, "Select object, dict, list, set")

    def __repr__(self) -> str:
        """The builder calls that make this search (parts left at their default are not shown)."""
        parts = ["Search()"]
        if self._where is not None:
            parts.append(f".where({self._where!r})")
        if self._rank is not None:
            parts.append(f".rank({self._rank!r})")
        if self._group_by != GroupBy():
            parts.append(f".group_by({self._group_by!r})")
        if self._limit != Limit():
            parts.append(f".limit({self._limit.limit}" + (f", offset={self._limit.offset})" if self._limit.offset
                                                           else ")"))
        if self._select != Select():
            parts.append(f".select({', '.join(repr(k) for k in sorted(self._select.to_dict()['keys']))})")
        return "".join(parts)

    def to_dict(self) -> Dict[str, Any]:
        """The JSON payload chromadb's client sends for this search."""
        return {
            "filter": None if self._where is None else self._where.to_dict(),
            "rank": None if self._rank is None else self._rank.to_dict(),
            "group_by": self._group_by.to_dict(),
            "limit": self._limit.to_dict(),
            "select": self._select.to_dict(),
        }

    @staticmethod
    def from_dict(data: Dict[str, Any]) -> "Search":
        """A search from its payload (``to_dict``'s output; ``{}`` / null parts mean "none")."""
        if not isinstance(data, dict):
            raise TypeError(f"Expected dict for Search, got {type(data).__name__}")
        return Search(where=data.get("filter") or None, rank=data.get("rank"), group_by=data.get("group_by"),
                      limit=data.get("limit"), select=data.get("select"))

    def _replace(self, **changes: Any) -> "Search":
        parts = {"where": self._where, "rank": self._rank, "group_by": self._group_by,
                 "limit": self._limit, "select": self._select}
        parts.update(changes)
        return Search(**parts)

    def where(self, where: Optional[Union[Where, Dict[str, Any]]]) -> "Search":
        return self._replace(where=where)

    def rank(self, rank_expr: Optional[Union[Rank, Dict[str, Any]]]) -> "Search":
        return self._replace(rank=rank_expr)

    def group_by(self, group_by: Optional[Union[GroupBy, Dict[str, Any]]]) -> "Search":
        return self._replace(group_by=group_by)

    def limit(self, limit: int, offset: int = 0) -> "Search":
        return self._replace(limit=Limit(offset=offset, limit=limit))

    def select(self, *keys: Union[Key, str]) -> "Search":
        return self._replace(select=Select(keys=set(keys)))

    def select_all(self) -> "Search":
        """Select ``#document``, ``#embedding``, ``#metadata`` and ``#score``."""
        return self._replace(select=Select(keys={Key.DOCUMENT, Key.EMBEDDING, Key.METADATA, Key.SCORE}))
