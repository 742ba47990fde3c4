"""One search payload as the executor runs it: the parts of a ``Search`` after Chroma's wire
round trip (``Rrf`` is arithmetic by then), with its ``Knn``s listed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from chroma_frame.execution.expression.group import GroupBy
from chroma_frame.execution.expression.plan import Search
from chroma_frame.execution.expression.rank import Abs, Div, Exp, Knn, Log, Max, Min, Mul, Rank, Sub, Sum, Val
from chroma_frame.execution.expression.where import Where, key_name
from chroma_frame.filters.limits import MAX_JSON_DEPTH, check_depth, measure

# Chroma's Key order for ``select``: the four predefined keys, then metadata fields by name
PREDEFINED = ("#document", "#embedding", "#metadata", "#score")


@dataclass(frozen=True)
class GroupSpec:
    keys: tuple[str, ...]
    aggregate_keys: tuple[str, ...]
    k: int
    descending: bool  # MaxK


@dataclass(frozen=True)
class SearchPlan:
    where: Optional[Where]
    rank: Optional[Rank]
    knns: tuple[Knn, ...]  # every Knn of ``rank``, depth first
    group: Optional[GroupSpec]
    offset: int
    limit: Optional[int]
    select: tuple[str, ...]  # sorted as Chroma sorts Keys


def plan_search(search: Search) -> SearchPlan:
    """The plan of ``search`` exactly as Chroma's server would receive it (``to_dict`` then parse).

    A payload nested past what Chroma's server reads is refused as it refuses it over HTTP."""
    try:
        payload = search.to_dict()
    except RecursionError:  # an expression nested thousands deep: refused before it is walked again
        check_depth(MAX_JSON_DEPTH + 1, "search")
    check_depth(measure(payload, "search"), "search")
    wire = Search.from_dict(payload)
    rank = wire._rank
    return SearchPlan(
        where=wire._where,
        rank=rank,
        knns=tuple(knns_of(rank)) if rank is not None else (),
        group=_group(wire._group_by),
        offset=wire._limit.offset,
        limit=wire._limit.limit,
        select=sorted_select(key_name(k) for k in wire._select.keys),
    )


def knns_of(rank: Rank) -> list[Knn]:
    """The ``Knn`` leaves of a rank expression, depth first."""
    if isinstance(rank, Knn):
        return [rank]
    if isinstance(rank, Val):
        return []
    if isinstance(rank, (Abs, Exp, Log)):
        return knns_of(rank.rank)
    if isinstance(rank, (Sub, Div)):
        return knns_of(rank.left) + knns_of(rank.right)
    if isinstance(rank, (Sum, Mul, Max, Min)):
        return [k for child in rank.ranks for k in knns_of(child)]
    raise TypeError(f"Unknown rank expression {type(rank).__name__}")


def sorted_select(names: Any) -> tuple[str, ...]:
    """Chroma's order: ``#document < #embedding < #metadata < #score < fields by name``."""
    unique = set(names)
    fixed = [name for name in PREDEFINED if name in unique]
    return tuple(fixed + sorted(unique.difference(PREDEFINED)))


def _group(group_by: GroupBy) -> Optional[GroupSpec]:
    if not group_by.keys or group_by.aggregate is None:
        return None
    wire = group_by.to_dict()
    ((op, body),) = wire["aggregate"].items()
    return GroupSpec(tuple(wire["keys"]), tuple(body["keys"]), body["k"], op == "$max_k")
