"""AST -> a DuckDB boolean expression over one table's typed metadata columns, and a test of
whether the table's column statistics allow any match.

A typed column holds every value of one key in a table, all of one scalar type (``kind``: "str",
"int", "float" or "bool"; see ``chroma_frame.storage.typed``), null where a record lacks the key.
``columns`` maps each key the table has such a column for to ``(column name, kind)``; a key of the
filter that the table does not have at all is simply absent (its positive tests are false). The
caller (``engine.duck``) uses this path only when every key of the filter is typed or absent in
the table, and no condition reads the document; otherwise the long form (``filters.compile``).

Semantics are those of ``filters.compile`` on the long form, restricted to scalars of one type:
an Int operand ``i`` on a float column compares with ``i as f64``, a Float operand ``f`` on an int
column with ``f as i64`` (truncation, saturating); Bool and Str match only their own type;
``$contains`` on a metadata key needs a list value, which a typed column never holds; negative
forms are ``NOT`` the positive one (so records without the key match them). Column names come
from the caller and values are bound parameters: no user text is pasted into the SQL.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from chroma_frame.filters.ast import And, ArrayContains, Compare, DocumentMatch, InSet, Node, Or, is_negative, positive
from chroma_frame.filters.compile import _OPERATORS, _SMALL_SET, as_i64

Columns = Mapping[str, tuple[str, str]]  # key -> (column name, kind)
Bounds = Mapping[str, tuple[Any, Any]]  # key -> (min, max) of its typed column; absent: no values

_KIND = {bool: "bool", int: "int", float: "float", str: "str"}
_SQL_TYPE = {"bool": "BOOLEAN", "int": "BIGINT", "float": "DOUBLE", "str": "VARCHAR"}
_FALSE = "false"
_TRUE = "true"


def typed_ok(node: Node, columns: Columns, long_form_keys: frozenset) -> bool:
    """True when ``node`` reads no document and no key that the table keeps only in long form."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (And, Or)):
            stack.extend(item.children)
        elif isinstance(item, DocumentMatch) or (item.key in long_form_keys and item.key not in columns):
            return False
    return True


def operand(value: Any, kind: str) -> Optional[Any]:
    """``value`` as the column of ``kind`` compares with it (Chroma's casts), or None: no match."""
    vkind = _KIND[type(value)]
    if vkind == kind:
        return value
    if kind == "float" and vkind == "int":
        return float(value)
    if kind == "int" and vkind == "float":
        return as_i64(value)
    return None


class TypedCompiler:
    """Compiles conditions for one table; bound values collect in ``params`` ($1, $2, ...)."""

    def __init__(self, params: Optional[list] = None) -> None:
        self.params: list = [] if params is None else params

    def bind(self, value: Any, kind: str) -> str:
        self.params.append(value)
        return f"${len(self.params)}::{_SQL_TYPE[kind]}"

    def condition(self, node: Node, columns: Columns) -> str:
        """The expression of ``node``: TRUE, or FALSE / NULL (both: no match). Negative leaves
        are never NULL and nothing negates a subtree, so NULL acts as FALSE throughout, and
        plain comparisons (no ``coalesce``) let DuckDB push them into the scan."""
        if isinstance(node, (And, Or)):
            joiner = " AND " if isinstance(node, And) else " OR "
            return "(" + joiner.join(self.condition(c, columns) for c in node.children) + ")"
        if isinstance(node, DocumentMatch):
            raise ValueError("document conditions compile on the long form (see typed_ok)")
        test = self._positive(node, columns)
        if not is_negative(node.op):
            return test
        if test in (_TRUE, _FALSE):
            return _TRUE if test == _FALSE else _FALSE
        return f"({columns[node.key][0]} IS NULL OR NOT {test})"

    def _positive(self, node: Compare | InSet | ArrayContains, columns: Columns) -> str:
        if isinstance(node, ArrayContains):  # typed columns hold no lists
            return _FALSE
        column = columns.get(node.key)
        if column is None:
            return _FALSE
        name, kind = column
        if isinstance(node, Compare):
            value = operand(node.value, kind)
            if value is None:
                return _FALSE
            return f"{name} {_OPERATORS[positive(node.op)]} {self.bind(value, kind)}"
        values = [operand(v, kind) for v in node.values]
        values = [v for v in values if v is not None]
        if not values:
            return _FALSE
        self.params.append(values)
        ref = f"${len(self.params)}::{_SQL_TYPE[kind]}[]"
        if len(values) <= _SMALL_SET:
            return f"list_contains({ref}, {name})"
        return f"{name} IN (SELECT unnest({ref}))"  # a hash join: list_contains is O(list) per row


def can_match(node: Node, columns: Columns, bounds: Bounds) -> bool:
    """False only when no record of a table can match ``node``, given its typed ``columns`` (every
    key of ``node`` is one of them or absent from the table, see :func:`typed_ok`) and their bounds."""
    if isinstance(node, And):
        return all(can_match(c, columns, bounds) for c in node.children)
    if isinstance(node, Or):
        return any(can_match(c, columns, bounds) for c in node.children)
    if isinstance(node, DocumentMatch) or is_negative(node.op):
        return True
    if isinstance(node, ArrayContains) or node.key not in columns:
        return False  # typed columns hold no lists; a key without a column is absent from the table
    kind = columns[node.key][1]
    if node.key not in bounds:
        return False  # the column is null throughout
    low, high = bounds[node.key]
    values = [node.value] if isinstance(node, Compare) else list(node.values)
    for given in values:
        value = operand(given, kind)
        if value is None:
            continue
        op = positive(node.op)
        if op in ("$eq", "$in") and low <= value <= high:
            return True
        if (op == "$gt" and high > value) or (op == "$gte" and high >= value):
            return True
        if (op == "$lt" and low < value) or (op == "$lte" and low <= value):
            return True
    return False


__all__ = ["Bounds", "Columns", "TypedCompiler", "can_match", "operand", "typed_ok"]
