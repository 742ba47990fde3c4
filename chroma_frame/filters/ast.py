"""The filter AST: one tree for ``where`` and ``where_document`` together.

Values are already normalised the way Chroma's Rust core reads them from JSON: ``bool``,
``int`` (always within int64), ``float`` (finite) or ``str``. The Python type of a value is
its Chroma type, so ``True`` is a Bool and never an Int, and ``1.0`` is a Float.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

Scalar = Union[bool, int, float, str]

CompareOp = Literal["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"]
SetOp = Literal["$in", "$nin"]
ContainsOp = Literal["$contains", "$not_contains"]
DocumentOp = Literal["$contains", "$not_contains", "$regex", "$not_regex"]

NEGATIONS: dict[str, str] = {
    "$ne": "$eq",
    "$nin": "$in",
    "$not_contains": "$contains",
    "$not_regex": "$regex",
}
"""Negative operator -> the positive one it negates (Chroma: ``NOT IN (records matching it)``)."""


@dataclass(frozen=True)
class And:
    """All children hold."""

    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """At least one child holds."""

    children: tuple[Node, ...]


@dataclass(frozen=True)
class Compare:
    """``{key: {op: value}}`` on a scalar (non-list) metadata value; ``{key: value}`` is ``$eq``."""

    key: str
    op: CompareOp
    value: Scalar


@dataclass(frozen=True)
class InSet:
    """``{key: {"$in" | "$nin": [values]}}``; all values have one type."""

    key: str
    op: SetOp
    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class ArrayContains:
    """``{key: {"$contains" | "$not_contains": value}}``: membership in a list metadata value."""

    key: str
    op: ContainsOp
    value: Scalar


@dataclass(frozen=True)
class DocumentMatch:
    """A test on the document: substring (case-sensitive) or regex search."""

    op: DocumentOp
    pattern: str


Node = Union[And, Or, Compare, InSet, ArrayContains, DocumentMatch]


def is_negative(op: str) -> bool:
    """True for ``$ne``, ``$nin``, ``$not_contains`` and ``$not_regex``."""
    return op in NEGATIONS


def positive(op: str) -> str:
    """The positive form of ``op`` (``op`` itself when it is positive)."""
    return NEGATIONS.get(op, op)
