"""A pure-Python oracle: does one record satisfy a filter AST?

Slow and obvious on purpose; tests hold the compiled SQL (and Chroma) against it. A record is
``{"id": str, "document": str | None, "metadata": dict | None}`` with Chroma metadata values
(str, int, float, bool, or a non-empty list of one of those).
"""

from __future__ import annotations

import functools
import operator
import re
from typing import Any, Callable, Optional

from chroma_frame.filters.ast import And, ArrayContains, Compare, DocumentMatch, InSet, Node, Or, is_negative, positive
from chroma_frame.filters.compile import as_i64

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "$eq": operator.eq,
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}


def matches(node: Optional[Node], record: dict) -> bool:
    """True when ``record`` satisfies ``node`` (None matches everything)."""
    if node is None:
        return True
    return _RULES[type(node)](node, record)


def _value(record: dict, key: str) -> Any:
    metadata = record.get("metadata") or {}
    return metadata.get(key, _MISSING)


_MISSING = object()


def _scalar_test(stored: Any, op: str, operand: Any) -> bool:
    """Chroma's typed comparison of one scalar metadata value with one operand."""
    compare = _OPERATORS[op]
    if isinstance(operand, (bool, str)) or isinstance(stored, (bool, str)):
        return type(stored) is type(operand) and compare(stored, operand)
    if isinstance(stored, int):  # Int column: a Float operand is cast to i64 first
        return compare(stored, operand if isinstance(operand, int) else as_i64(operand))
    if isinstance(stored, float):  # Float column: an Int operand is cast to f64 first
        return compare(stored, float(operand))
    return False


def _negate_if(op: str, result: bool) -> bool:
    return not result if is_negative(op) else result


def _compare(node: Compare, record: dict) -> bool:
    stored = _value(record, node.key)
    scalar = stored is not _MISSING and not isinstance(stored, list)
    hit = scalar and _scalar_test(stored, positive(node.op), node.value)
    return _negate_if(node.op, hit)


def _in_set(node: InSet, record: dict) -> bool:
    stored = _value(record, node.key)
    scalar = stored is not _MISSING and not isinstance(stored, list)
    hit = scalar and any(_scalar_test(stored, "$eq", v) for v in node.values)
    return _negate_if(node.op, hit)


def _array_contains(node: ArrayContains, record: dict) -> bool:
    stored = _value(record, node.key)
    hit = isinstance(stored, list) and any(
        type(item) is type(node.value) and item == node.value for item in stored
    )
    return _negate_if(node.op, hit)


def _document(node: DocumentMatch, record: dict) -> bool:
    document = record.get("document")
    if document is None:
        hit = False
    elif positive(node.op) == "$contains":
        hit = node.pattern in document
    else:
        hit = _python_regex(node.pattern).search(document) is not None
    return _negate_if(node.op, hit)


@functools.lru_cache(maxsize=256)
def _python_regex(pattern: str) -> re.Pattern:
    """Compile a Rust/RE2 pattern with ``re``. Outside multi-line mode ``$`` only matches at the
    very end in Rust, while Python's also matches before a final newline: use ``\\Z`` there."""
    if "m" in "".join(re.findall(r"\(\?([a-zA-Z-]*)[:)]", pattern)):
        return re.compile(pattern)
    out, i = [], 0
    in_class = False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
        elif ch == "]" and in_class:
            in_class = False
        out.append("\\Z" if ch == "$" and not in_class else ch)
        i += 1
    return re.compile("".join(out))


_RULES: dict[type, Callable[[Any, dict], bool]] = {
    And: lambda node, record: all(matches(child, record) for child in node.children),
    Or: lambda node, record: any(matches(child, record) for child in node.children),
    Compare: _compare,
    InSet: _in_set,
    ArrayContains: _array_contains,
    DocumentMatch: _document,
}
