"""Size and depth limits of ``where`` / ``where_document``, checked before anything recurses.

Depth: Chroma's core reads each clause with serde_json, whose recursion limit refuses JSON nested
128 levels deep ("Invalid where clause"): 62 nested ``$and``/``$or`` around a ``{key: {op: v}}``
leaf pass, 63 do not. We refuse at the same point, with Chroma's class and message plus the reason.

Size: Chroma has no explicit limit; SQLite refuses a condition of about 1,000 terms ("Expression
tree is too large", an ``InternalError``) and a ``$in`` of more than 32,766 values ("too many SQL
variables"). Ours admit both and keep the worst filter around a second on a small collection:
filters compile to SQL linear in their size (``benchmarks/reliability/filter_limits.py``).
"""

from __future__ import annotations

from typing import Any

from chroma_frame.errors import InvalidArgumentError

MAX_JSON_DEPTH = 127
"""Deepest JSON nesting of one clause Chroma accepts (serde_json's limit is 128)."""
MAX_FILTER_DEPTH = 64
"""Deepest ``$and``/``$or`` nesting of a filter AST (a parsed filter nests at most 63 deep)."""
MAX_FILTER_OBJECTS = 2048
"""Most JSON objects (``{...}``: one or two per condition) in one clause: room for every filter
Chroma runs (about 1,000 conditions), and at most ~1 s of planning on a small collection."""
MAX_FILTER_VALUES = 1_000_000
"""Most JSON values (objects, lists, scalars: every ``$in`` element counts) in one clause."""

_WALKABLE_DEPTH = 300  # deeper than this is refused before Chroma's (recursive) validation runs
_MESSAGES = {"where": "Invalid where clause", "where_document": "Invalid where document clause",
             "search": "Invalid search payload"}


def measure(value: Any, clause: str) -> int:
    """The JSON nesting depth of a clause (``where``, ``where_document`` or a Search API payload).

    Refuses more than :data:`MAX_FILTER_OBJECTS` objects or :data:`MAX_FILTER_VALUES` values, and a
    depth past what the (recursive) validators could walk. Iterative: a hostile million-level
    nesting costs a loop, not the stack."""
    count, objects, deepest = 0, 0, 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        count += 1
        if count > MAX_FILTER_VALUES:
            raise InvalidArgumentError(
                f"{_MESSAGES[clause]}: it holds more than {MAX_FILTER_VALUES} values (operands and list "
                "elements), the limit of one filter"
            )
        if isinstance(item, dict):
            objects += 1
            if objects > MAX_FILTER_OBJECTS:
                raise InvalidArgumentError(
                    f"{_MESSAGES[clause]}: it holds more than {MAX_FILTER_OBJECTS} conditions and operators "
                    "(JSON objects), the limit of one filter"
                )
        if isinstance(item, (dict, list, tuple)):
            if depth > deepest:
                deepest = depth
                if depth > _WALKABLE_DEPTH:
                    check_depth(depth, clause)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def check_depth(depth: int, clause: str) -> None:
    """Chroma's refusal of a clause nested deeper than serde_json reads."""
    if depth > MAX_JSON_DEPTH:
        raise InvalidArgumentError(
            f"{_MESSAGES[clause]}: it is nested more than {MAX_JSON_DEPTH} levels deep "
            "(at most 62 $and/$or around a condition)"
        )
