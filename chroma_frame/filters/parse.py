"""The only parser of ``where`` / ``where_document``: validate like Chroma, then build the AST.

Checks run in Chroma's order, so the first error is the one Chroma reports:

1. Python-side validation (``chromadb/api/types.py``: ``validate_where``, then
   ``validate_where_document``): ``ValueError`` with Chroma's message, without the
   ``" in {op}."`` suffix, which the caller adds.
2. ``json.dumps(where)``: ``TypeError`` for values JSON cannot encode.
3. The Rust core reading the JSON: ``InvalidArgumentError("Invalid where clause")``.
   A clause nested deeper than serde_json reads, or larger than our size limit, is refused
   (``chroma_frame/filters/limits.py``); the size and a stack-threatening depth are checked
   before anything else, so no validator recurses into a hostile filter.
4. Regexes of ``where_document``: ``InvalidArgumentError("Regex syntax errror: ...")``.
5. ``#document`` used as a string metadata key: ``InvalidArgumentError("Cannot filter ...")``.
"""

from __future__ import annotations

import math
from typing import Any, Optional, cast

from chroma_frame.errors import InvalidArgumentError
from chroma_frame.filters.ast import (
    And,
    ArrayContains,
    Compare,
    CompareOp,
    ContainsOp,
    DocumentMatch,
    DocumentOp,
    InSet,
    Node,
    Or,
    SetOp,
)
from chroma_frame.filters.limits import check_depth, measure
from chroma_frame.filters.regex import check_regex

DOCUMENT_KEY = "#document"
_WHERE_OPERATORS = ["$gt", "$gte", "$lt", "$lte", "$ne", "$eq", "$in", "$nin", "$contains", "$not_contains"]
_DOCUMENT_OPERATORS = ["$contains", "$not_contains", "$regex", "$not_regex", "$and", "$or"]
_INT64 = (-(2**63), 2**63)


def parse_filter(where: Optional[dict], where_document: Optional[dict]) -> Optional[Node]:
    """Validate ``where`` and ``where_document`` and turn them into one AST.

    Returns the AND of both when both are given, and None when both are None. An empty dict is
    not "no filter": Chroma rejects it ("Expected where to have exactly one operator, got {}").
    """
    where_depth = measure(where, "where") if where is not None else 0
    document_depth = measure(where_document, "where_document") if where_document is not None else 0
    if where is not None:
        validate_where(where)
    if where_document is not None:
        validate_where_document(where_document)
    if where is not None:
        _check_json(where)
    builder = _Builder()
    nodes = []
    if where is not None:
        check_depth(where_depth, "where")
        nodes.append(builder.where(where))
    if where_document is not None:
        check_depth(document_depth, "where_document")
        nodes.append(builder.document(where_document))
    for pattern in builder.regexes:
        check_regex(pattern)
    if builder.document_as_string:
        raise InvalidArgumentError(
            f"Cannot filter using metadata key '{DOCUMENT_KEY}' with type 'Str' because indexing is disabled"
        )
    if not nodes:
        return None
    return nodes[0] if len(nodes) == 1 else And(tuple(nodes))


# -- 1. Chroma's Python validation (ported statement by statement, messages verbatim) ----------


def validate_where(where: Any) -> None:
    """Chroma's ``validate_where``."""
    if not isinstance(where, dict):
        raise ValueError(f"Expected where to be a dict, got {where}")
    if len(where) != 1:
        raise ValueError(f"Expected where to have exactly one operator, got {where}")
    for key, value in where.items():
        if not isinstance(key, str):
            raise ValueError(f"Expected where key to be a str, got {key}")
        if key in ("$contains", "$not_contains"):
            raise ValueError(
                f"Expected where key to be a metadata field name or a logical operator ($and, $or), got {key}"
            )
        if key not in ("$and", "$or", "$in", "$nin") and not isinstance(value, (str, int, float, dict)):
            raise ValueError(f"Expected where value to be a str, int, float, or operator expression, got {value}")
        if key in ("$and", "$or"):
            if not isinstance(value, list):
                raise ValueError(f"Expected where value for $and or $or to be a list of where expressions, got {value}")
            if len(value) <= 1:
                raise ValueError(
                    "Expected where value for $and or $or to be a list with at least two where expressions, "
                    f"got {value}"
                )
            for child in value:
                validate_where(child)
        if isinstance(value, dict):
            _validate_operator_expression(key, value)


def _validate_operator_expression(key: str, value: dict) -> None:
    if len(value) != 1:
        raise ValueError(f"Expected operator expression to have exactly one operator, got {value}")
    for operator, operand in value.items():
        if operator in ("$gt", "$gte", "$lt", "$lte") and not isinstance(operand, (int, float)):
            raise ValueError(f"Expected operand value to be an int or a float for operator {operator}, got {operand}")
        if operator in ("$in", "$nin") and not isinstance(operand, list):
            raise ValueError(f"Expected operand value to be an list for operator {operator}, got {operand}")
        if operator in ("$contains", "$not_contains"):
            if key == DOCUMENT_KEY and not isinstance(operand, str):
                raise ValueError(
                    f"Expected operand value to be a str for operator {operator} on #document, got {operand}"
                )
            if not isinstance(operand, (str, int, float, bool)):
                raise ValueError(
                    f"Expected operand value to be a str, int, float, or bool for operator {operator}, got {operand}"
                )
        if operator not in _WHERE_OPERATORS:
            raise ValueError(f"Expected where operator to be one of {', '.join(_WHERE_OPERATORS)}, got {operator}")
        if not isinstance(operand, (str, int, float, bool, list)):
            raise ValueError(
                f"Expected where operand value to be a str, int, float, bool, or list of those type, got {operand}"
            )
        if isinstance(operand, list) and (
            len(operand) == 0 or not all(isinstance(x, type(operand[0])) for x in operand)
        ):
            raise ValueError(
                "Expected where operand value to be a non-empty list, and all values to be of the same type "
                f"got {operand}"
            )


def validate_where_document(where_document: Any) -> None:
    """Chroma's ``validate_where_document``."""
    if not isinstance(where_document, dict):
        raise ValueError(f"Expected where document to be a dictionary, got {where_document}")
    if len(where_document) != 1:
        raise ValueError(f"Expected where document to have exactly one operator, got {where_document}")
    for operator, operand in where_document.items():
        if operator not in _DOCUMENT_OPERATORS:
            raise ValueError(
                f"Expected where document operator to be one of {', '.join(_DOCUMENT_OPERATORS)}, got {operator}"
            )
        if operator in ("$and", "$or"):
            if not isinstance(operand, list):
                raise ValueError(
                    f"Expected document value for $and or $or to be a list of where document expressions, got {operand}"
                )
            if len(operand) <= 1:
                raise ValueError(
                    "Expected document value for $and or $or to be a list with at least two where document "
                    f"expressions, got {operand}"
                )
            for child in operand:
                validate_where_document(child)
        elif not isinstance(operand, str):
            raise ValueError(
                f"Expected where document operand value for operator {operator} to be a str, got {operand}"
            )
        elif len(operand) == 0:
            raise ValueError(f"Expected where document operand value for operator {operator} to be a non-empty str")


# -- 2. json.dumps ----------------------------------------------------------------------------


def _check_json(value: Any) -> None:
    """Raise json.dumps' TypeError for a value it cannot encode (Chroma sends ``where`` as JSON)."""
    if value is None or isinstance(value, (str, int, float)):
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_json(item)
    elif isinstance(value, dict):
        for item in value.values():
            _check_json(item)
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# -- 3-5. What the Rust core accepts, and the AST ---------------------------------------------


class _Invalid(Exception):
    """The Rust core rejects the where clause."""


_U64 = object()  # a JSON integer in [2**63, 2**64): read as u64, which no metadata value accepts


def _json_value(value: Any) -> Any:
    """``value`` as serde_json reads ``json.dumps(value)``: bool, int64, float, str, or _U64."""
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        if _INT64[0] <= value < _INT64[1]:
            return int(value)
        if _INT64[1] <= value < 2**64:
            return _U64
        try:
            return float(value)  # serde_json reads integers beyond (u)int64 as f64
        except OverflowError:
            raise _Invalid from None
    if isinstance(value, float):
        if not math.isfinite(value):  # json.dumps writes NaN / Infinity, which is not JSON
            raise _Invalid
        return float(value)
    if isinstance(value, str):
        return str(value)
    raise _Invalid


def _scalar(value: Any) -> Any:
    """A metadata value as the Rust core reads it (u64 and non-scalars are rejected)."""
    out = _json_value(value)
    if out is _U64:
        raise _Invalid
    return out


def _number(value: Any) -> Any:
    """An operand of $gt/$gte/$lt/$lte: Int or Float, not Bool."""
    out = _scalar(value)
    if isinstance(out, (bool, str)):
        raise _Invalid
    return out


def _set(values: list) -> tuple:
    """An operand of $in/$nin. The first element's type decides the set's type; a Float set
    also takes integers (read as floats), an Int set takes only int64 integers."""
    items = [_json_value(v) for v in values]
    first = items[0]
    if first is _U64:
        raise _Invalid
    if isinstance(first, float):
        if any(isinstance(v, (bool, str)) for v in items):
            raise _Invalid
        return tuple(float(v) for v in values)
    kind = type(first)
    if any(type(v) is not kind for v in items):
        raise _Invalid
    return tuple(items)


class _Builder:
    """Builds the AST, collecting the regexes and the ``#document`` misuse that are reported later."""

    def __init__(self) -> None:
        self.regexes: list[str] = []
        self.document_as_string = False

    def where(self, where: dict) -> Node:
        try:
            return self._where(where)
        except _Invalid:
            raise InvalidArgumentError("Invalid where clause") from None

    def _where(self, where: dict) -> Node:
        ((key, value),) = where.items()
        if key in ("$and", "$or"):
            children = tuple(self._where(child) for child in value)
            return And(children) if key == "$and" else Or(children)
        if key.startswith("$"):
            raise _Invalid
        if not isinstance(value, dict):
            return self._leaf(key, "$eq", value)
        ((operator, operand),) = value.items()
        return self._leaf(key, operator, operand)

    def _leaf(self, key: str, operator: str, operand: Any) -> Node:
        if operator in ("$eq", "$ne"):
            node: Node = Compare(key, cast(CompareOp, operator), _scalar(operand))
        elif operator in ("$gt", "$gte", "$lt", "$lte"):
            node = Compare(key, cast(CompareOp, operator), _number(operand))
        elif operator in ("$in", "$nin"):
            node = InSet(key, cast(SetOp, operator), _set(operand))
        else:  # $contains / $not_contains
            if key == DOCUMENT_KEY:
                return DocumentMatch(cast(DocumentOp, operator), operand)
            node = ArrayContains(key, cast(ContainsOp, operator), _scalar(operand))
        if key == DOCUMENT_KEY and isinstance(node, (Compare, InSet)):
            value = node.value if isinstance(node, Compare) else node.values[0]
            self.document_as_string |= isinstance(value, str)
        return node

    def document(self, where_document: dict) -> Node:
        ((operator, operand),) = where_document.items()
        if operator in ("$and", "$or"):
            children = tuple(self.document(child) for child in operand)
            return And(children) if operator == "$and" else Or(children)
        if operator in ("$regex", "$not_regex"):
            self.regexes.append(operand)
        return DocumentMatch(operator, operand)
