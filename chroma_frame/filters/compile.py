"""AST -> a parameterised DuckDB boolean expression over ``records``.

Shaped like ibis's compiler: a table of rules, one per node type, and all SQL text in one place
(the templates below). Every value, keys included, is a bound parameter ``$n``; nothing the user
wrote is ever pasted into the SQL.

Relations (docs/internals.md): ``records(rowid, id, document, ...)`` and the long-form
``metadata(rowid, key, str_value, int_value, float_value, bool_value, is_array)``.

Semantics (Chroma 1.5.9's Rust core):
- ``$eq/$gt/$gte/$lt/$lte/$in`` need the key with a scalar (non-list) value.
- Numbers compare across Int and Float: an Int operand ``i`` tests ``int_value op i`` or
  ``float_value op (i as f64)``; a Float operand ``f`` tests ``int_value op (f as i64)`` (Rust's
  cast: truncation toward zero, saturating) or ``float_value op f``. Bool and Str only match their
  own type.
- ``$contains`` on a metadata key tests membership of a list value, same type only.
- ``$ne/$nin/$not_contains`` are ``rowid NOT IN (rows where the positive form holds)``: records
  without the key, or without metadata, match.
- Documents: ``$contains`` is a case-sensitive substring, ``$regex`` an RE2 search; the negative
  forms match records whose document is NULL.
Each compiled predicate is TRUE or FALSE, never NULL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from chroma_frame.filters.ast import And, ArrayContains, Compare, DocumentMatch, InSet, Node, Or, is_negative, positive

# -- SQL text: every fragment the compiler emits --------------------------------------------

_AND = " AND "
_OR = " OR "
_GROUP = "({})"
_HAS_METADATA = "rowid IN (SELECT rowid FROM metadata WHERE {})"
_LACKS_METADATA = "rowid NOT IN (SELECT rowid FROM metadata WHERE {})"
_SCALAR_ENTRY = "key = {key} AND NOT is_array AND {test}"
_ARRAY_ENTRY = "key = {key} AND is_array AND {test}"
_COMPARE = "{column} {op} {value}"
_IN_LIST = "list_contains({values}, {column})"
_EITHER = "({} OR {})"
_DOCUMENT_TRUE = "coalesce({}, false)"
_DOCUMENT_FALSE = "NOT coalesce({}, false)"
_DOCUMENT_TESTS = {"$contains": "contains(document, {})", "$regex": "regexp_matches(document, {})"}
_OPERATORS = {"$eq": "=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_COLUMNS = {bool: "bool_value", int: "int_value", float: "float_value", str: "str_value"}
_TYPES = {bool: "BOOLEAN", int: "BIGINT", float: "DOUBLE", str: "VARCHAR"}

_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class CompiledFilter:
    """A boolean SQL expression over ``records``; ``params`` bind positionally to ``$1..$n``."""

    sql: str
    params: tuple
    keys: frozenset = field(default=frozenset(), compare=False)  # metadata keys read: the engine scans only those


def compile_filter(node: Optional[Node]) -> Optional[CompiledFilter]:
    """Compile an AST from ``parse_filter``; None (no filter) stays None."""
    if node is None:
        return None
    params = _Params()
    sql = _compile(node, params)
    return CompiledFilter(sql, tuple(params.values), _keys(node))


def _keys(node: Node) -> frozenset:
    keys: set = set()
    stack: list = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif hasattr(item, "__dataclass_fields__"):
            key = getattr(item, "key", None)
            if isinstance(key, str):
                keys.add(key)
            stack.extend(getattr(item, f) for f in item.__dataclass_fields__ if f != "key")
    return frozenset(keys)


class _Params:
    """Collects bound values and hands out their placeholders."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def bind(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def _cast(ref: str, python_type: type, array: bool = False) -> str:
    return f"{ref}::{_TYPES[python_type]}{'[]' if array else ''}"


def as_i64(value: float) -> int:
    """Rust's ``value as i64``: truncation toward zero, saturating at the int64 bounds."""
    if value >= 2.0**63:
        return _I64_MAX
    if value <= -(2.0**63):
        return _I64_MIN
    return int(value)


# -- rules ----------------------------------------------------------------------------------

_Rule = Callable[[Any, _Params], str]
_RULES: dict[type, _Rule] = {}


def _rule(node_type: type) -> Callable[[_Rule], _Rule]:
    def register(fn: _Rule) -> _Rule:
        _RULES[node_type] = fn
        return fn

    return register


def _compile(node: Node, params: _Params) -> str:
    return _RULES[type(node)](node, params)


@_rule(And)
def _and(node: And, params: _Params) -> str:
    return _GROUP.format(_AND.join(_compile(child, params) for child in node.children))


@_rule(Or)
def _or(node: Or, params: _Params) -> str:
    return _GROUP.format(_OR.join(_compile(child, params) for child in node.children))


def _metadata(op: str, entry: str, key: str, test: Callable[[], str], params: _Params) -> str:
    """``rowid [NOT] IN (entries of key satisfying test)``; binds the key first, then the value."""
    body = entry.format(key=params.bind(key), test=test())
    return (_LACKS_METADATA if is_negative(op) else _HAS_METADATA).format(body)


@_rule(Compare)
def _compare(node: Compare, params: _Params) -> str:
    op = _OPERATORS[positive(node.op)]

    def test() -> str:
        value = node.value
        if isinstance(value, (bool, str)):
            return _COMPARE.format(column=_COLUMNS[type(value)], op=op, value=params.bind(value))
        if isinstance(value, int):
            ref = params.bind(value)
            int_ref = float_ref = ref
        else:
            int_ref, float_ref = params.bind(as_i64(value)), params.bind(value)
        return _EITHER.format(
            _COMPARE.format(column="int_value", op=op, value=_cast(int_ref, int)),
            _COMPARE.format(column="float_value", op=op, value=_cast(float_ref, float)),
        )

    return _metadata(node.op, _SCALAR_ENTRY, node.key, test, params)


@_rule(InSet)
def _in_set(node: InSet, params: _Params) -> str:
    def test() -> str:
        kind = type(node.values[0])
        if kind in (bool, str):
            ref = _cast(params.bind(tuple(node.values)), kind, array=True)
            return _IN_LIST.format(values=ref, column=_COLUMNS[kind])
        if kind is int:
            int_ref = float_ref = params.bind(tuple(node.values))
        else:
            int_ref = params.bind(tuple(as_i64(v) for v in node.values))
            float_ref = params.bind(tuple(node.values))
        return _EITHER.format(
            _IN_LIST.format(values=_cast(int_ref, int, array=True), column="int_value"),
            _IN_LIST.format(values=_cast(float_ref, float, array=True), column="float_value"),
        )

    return _metadata(node.op, _SCALAR_ENTRY, node.key, test, params)


@_rule(ArrayContains)
def _array_contains(node: ArrayContains, params: _Params) -> str:
    def test() -> str:
        kind = type(node.value)
        ref = params.bind(node.value)
        value = _cast(ref, kind) if kind in (int, float) else ref
        return _COMPARE.format(column=_COLUMNS[kind], op="=", value=value)

    return _metadata(node.op, _ARRAY_ENTRY, node.key, test, params)


@_rule(DocumentMatch)
def _document(node: DocumentMatch, params: _Params) -> str:
    test = _DOCUMENT_TESTS[positive(node.op)].format(params.bind(node.pattern))
    return (_DOCUMENT_FALSE if is_negative(node.op) else _DOCUMENT_TRUE).format(test)
