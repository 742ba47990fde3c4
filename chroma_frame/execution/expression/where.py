"""Search filters: ``Key`` (``K``) builds ``Where`` trees, ``&`` / ``|`` combine them.

Wire format (``to_dict``) and ``from_dict`` errors are Chroma 1.5.9's (``chromadb`` client).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Union

from chroma_frame.execution.expression.wire import expect_dict

WhereDict = Dict[str, Any]
_SCALAR = (str, int, float, bool)


class Where:
    """A filter expression; combine with ``&`` (And) and ``|`` (Or)."""

    def to_dict(self) -> WhereDict:
        raise NotImplementedError("Subclasses must implement to_dict()")

    @staticmethod
    def from_dict(data: WhereDict) -> "Where":
        """The expression of a Mongo-style dict (``{"field": value}``, ``{"field": {"$op": v}}``,
        ``{"$and": [...]}``, ``{"$or": [...]}``)."""
        expect_dict(data, "Where")
        for logical, combine in (("$and", Where.__and__), ("$or", Where.__or__)):
            if logical in data:
                return _logical(logical, data, combine)
        if len(data) != 1:
            raise ValueError(f"Where dict must contain exactly one field, got {len(data)}")
        ((name, condition),) = data.items()
        if not isinstance(name, str):
            raise TypeError(f"Field name must be a string, got {type(name).__name__}")
        if not isinstance(condition, dict):
            return Key(name) == condition
        if not condition:
            raise ValueError(f"Operator dict for field '{name}' cannot be empty")
        if len(condition) != 1:
            raise ValueError(f"Operator dict for field '{name}' must contain exactly one operator")
        ((op, value),) = condition.items()
        build = _FROM_OPERATOR.get(op)
        if build is None:
            raise ValueError(f"Unknown operator: {op}")
        return build(Key(name), op, value)

    def __and__(self, other: "Where") -> "And":
        return And(_flat(self, And) + _flat(other, And))

    def __or__(self, other: "Where") -> "Or":
        return Or(_flat(self, Or) + _flat(other, Or))


def _flat(where: Where, kind: type[And] | type[Or]) -> List[Where]:
    """The operands an ``&`` / ``|`` contributes: an And (Or) is spliced into another And (Or)."""
    return list(where.conditions) if isinstance(where, kind) else [where]


def _logical(op: str, data: WhereDict, combine: Callable[[Where, Where], Where]) -> Where:
    children = data[op]
    if not isinstance(children, list):
        raise TypeError(f"{op} must be a list, got {type(children).__name__}")
    if not children:
        raise ValueError(f"{op} requires at least one condition")
    if len(data) > 1:
        raise ValueError(f"{op} cannot be combined with other fields in the same dict")
    return functools.reduce(combine, [Where.from_dict(child) for child in children])


@dataclass
class And(Where):
    """All conditions hold."""

    conditions: List[Where]

    def to_dict(self) -> WhereDict:
        return {"$and": [c.to_dict() for c in self.conditions]}


@dataclass
class Or(Where):
    """At least one condition holds."""

    conditions: List[Where]

    def to_dict(self) -> WhereDict:
        return {"$or": [c.to_dict() for c in self.conditions]}


class _Leaf(Where):
    """``{key: {operator: operand}}``; subclasses name the operator and the operand field."""

    OP = ""
    FIELD = "value"

    def to_dict(self) -> WhereDict:
        return {self.key: {self.OP: getattr(self, self.FIELD)}}  # type: ignore[attr-defined]


@dataclass
class Eq(_Leaf):
    """``key == value``."""

    key: str
    value: Any
    OP = "$eq"


@dataclass
class Ne(_Leaf):
    """``key != value`` (records without the key match)."""

    key: str
    value: Any
    OP = "$ne"


@dataclass
class Gt(_Leaf):
    key: str
    value: Any
    OP = "$gt"


@dataclass
class Gte(_Leaf):
    key: str
    value: Any
    OP = "$gte"


@dataclass
class Lt(_Leaf):
    key: str
    value: Any
    OP = "$lt"


@dataclass
class Lte(_Leaf):
    key: str
    value: Any
    OP = "$lte"


@dataclass
class In(_Leaf):
    """The value is one of ``values``."""

    key: str
    values: List[Any]
    OP, FIELD = "$in", "values"


@dataclass
class Nin(_Leaf):
    """The value is none of ``values``."""

    key: str
    values: List[Any]
    OP, FIELD = "$nin", "values"


@dataclass
class Contains(_Leaf):
    """Substring of ``#document``, or membership in a list metadata value."""

    key: str
    value: Any
    OP = "$contains"


@dataclass
class NotContains(_Leaf):
    key: str
    value: Any
    OP = "$not_contains"


@dataclass
class Regex(_Leaf):
    """``#document`` matches the regular expression."""

    key: str
    pattern: str
    OP, FIELD = "$regex", "pattern"


@dataclass
class NotRegex(_Leaf):
    key: str
    pattern: str
    OP, FIELD = "$not_regex", "pattern"


class Key:
    """A field: ``Key("#document")``, ``Key("#id")``, ... or a metadata key ``Key("year")``.

    Comparison operators build filters (``K("year") >= 2020``), so ``==`` returns an ``Eq``.
    ``K`` is an alias; ``K.ID``, ``K.DOCUMENT``, ``K.EMBEDDING``, ``K.METADATA``, ``K.SCORE``.
    """

    ID: "Key"
    DOCUMENT: "Key"
    EMBEDDING: "Key"
    METADATA: "Key"
    SCORE: "Key"

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Key({self.name!r})"

    def __hash__(self) -> int:
        return hash(self.name)

    def __eq__(self, value: Any) -> Eq:  # type: ignore[override]
        return Eq(self.name, value)

    def __ne__(self, value: Any) -> Ne:  # type: ignore[override]
        return Ne(self.name, value)

    def __gt__(self, value: Any) -> Gt:
        return Gt(self.name, value)

    def __ge__(self, value: Any) -> Gte:
        return Gte(self.name, value)

    def __lt__(self, value: Any) -> Lt:
        return Lt(self.name, value)

    def __le__(self, value: Any) -> Lte:
        return Lte(self.name, value)

    def is_in(self, values: List[Any]) -> In:
        return In(self.name, values)

    def not_in(self, values: List[Any]) -> Nin:
        return Nin(self.name, values)

    def regex(self, pattern: str) -> Regex:
        return Regex(self.name, pattern)

    def not_regex(self, pattern: str) -> NotRegex:
        return NotRegex(self.name, pattern)

    def contains(self, value: Any) -> Contains:
        """Substring on ``#document`` (a str is required there), list membership on metadata."""
        self._check_document_pattern("$contains", value)
        return Contains(self.name, value)

    def not_contains(self, value: Any) -> NotContains:
        self._check_document_pattern("$not_contains", value)
        return NotContains(self.name, value)

    def _check_document_pattern(self, op: str, value: Any) -> None:
        if self.name == "#document" and not isinstance(value, str):
            raise TypeError(f"{op} on #document requires a string pattern")


Key.ID = Key("#id")
Key.DOCUMENT = Key("#document")
Key.EMBEDDING = Key("#embedding")
Key.METADATA = Key("#metadata")
Key.SCORE = Key("#score")
K = Key


def _compare(key: Key, op: str, value: Any) -> Where:
    return {"$eq": key.__eq__, "$ne": key.__ne__, "$gt": key.__gt__, "$gte": key.__ge__,
            "$lt": key.__lt__, "$lte": key.__le__}[op](value)


def _typed(check: type | tuple, wanted: str, method: str) -> Callable[[Key, str, Any], Where]:
    def build(key: Key, op: str, value: Any) -> Where:
        if not isinstance(value, check):
            raise TypeError(f"{op} requires {wanted}, got {type(value).__name__}")
        return getattr(key, method)(value)

    return build


_FROM_OPERATOR: Dict[str, Callable[[Key, str, Any], Where]] = {
    **{op: _compare for op in ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")},
    "$in": _typed(list, "a list", "is_in"),
    "$nin": _typed(list, "a list", "not_in"),
    "$contains": _typed(_SCALAR, "a str, int, float, or bool", "contains"),
    "$not_contains": _typed(_SCALAR, "a str, int, float, or bool", "not_contains"),
    "$regex": _typed(str, "a string pattern", "regex"),
    "$not_regex": _typed(str, "a string pattern", "not_regex"),
}

KeyLike = Union[Key, str]


def key_name(key: KeyLike) -> Any:
    """The wire name of a key (a ``Key``'s name; anything else as given)."""
    return key.name if isinstance(key, Key) else key
