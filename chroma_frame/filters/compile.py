"""AST -> a parameterised DuckDB boolean expression over ``records``.

Shaped like ibis's compiler: a table of rules, one per node type, and all SQL text in one place
(the templates below). Every value, keys included, is a bound parameter ``$n``; nothing the user
wrote is ever pasted into the SQL.

Relations (docs/internals.md): ``records(rowid, id, document, ...)`` and the long-form
``metadata(rowid, key, str_value, int_value, float_value, bool_value, is_array)``.

Cost linear in the filter's size: nested ``$and`` / ``$or`` are flattened and repeated children
dropped. A few metadata conditions (up to ``SUBQUERY_LIMIT``) are each a ``rowid [NOT] IN
(subquery)``, the fastest plan; past that, DuckDB plans such subqueries in superlinear time (150
took seconds, 200 nested ones minutes), so every distinct condition becomes one flag column of ONE
scan of ``metadata`` grouped by rowid (``bool_or(entry test) AS fN``), left-joined to ``records``,
and the filter a plain boolean expression over the flags and the document. Numbers are then
literals: thousands of parameters are superlinear to plan too.

Semantics (Chroma 1.5.9's Rust core):
- ``$eq/$gt/$gte/$lt/$lte/$in`` need the key with a scalar (non-list) value.
- Numbers compare across Int and Float: an Int operand ``i`` tests ``int_value op i`` or
  ``float_value op (i as f64)``; a Float operand ``f`` tests ``int_value op (f as i64)`` (Rust's
  cast: truncation toward zero, saturating) or ``float_value op f``. Bool and Str only match their
  own type.
- ``$contains`` on a metadata key tests membership of a list value, same type only.
- ``$ne/$nin/$not_contains`` are ``NOT (the positive form holds)``: records without the key, or
  without metadata, match (Chroma's ``rowid NOT IN (rows where the positive form holds)``).
- Documents: ``$contains`` is a case-sensitive substring, ``$regex`` an RE2 search (linear time:
  no catastrophic backtracking); the negative forms match records whose document is NULL.
Each compiled predicate is TRUE or FALSE, never NULL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, cast

from chroma_frame.errors import InvalidArgumentError
from chroma_frame.filters.ast import (
    And,
    ArrayContains,
    Compare,
    DocumentMatch,
    InSet,
    Node,
    Or,
    SetOp,
    is_negative,
    positive,
)
from chroma_frame.filters.limits import MAX_FILTER_DEPTH

# -- SQL text: every fragment the compiler emits --------------------------------------------

_AND = " AND "
_OR = " OR "
_GROUP = "({})"
_HAS_METADATA = "rowid IN (SELECT rowid FROM metadata WHERE {})"
_LACKS_METADATA = "rowid NOT IN (SELECT rowid FROM metadata WHERE {})"
_SELECTED = "rowid IN ({})"
_STATEMENT = (
    "SELECT records.rowid FROM records LEFT JOIN (SELECT rowid, {flags} FROM metadata GROUP BY rowid) AS flags"
    " ON records.rowid = flags.rowid WHERE {condition}"
)
_FLAG = "bool_or({number} > 0 AND {test}) AS f{number}"  # the number keeps DuckDB's expression hashes apart
_FLAG_TRUE = "f{} IS TRUE"
_FLAG_FALSE = "f{} IS NOT TRUE"
_SCALAR_ENTRY = "key = {key} AND NOT is_array AND {test}"
_ARRAY_ENTRY = "key = {key} AND is_array AND {test}"
_COMPARE = "{column} {op} {value}"
_IN_LIST = "list_contains({values}, {column})"
_IN_TABLE = "{column} IN (SELECT unnest({values}))"  # a hash join: list_contains is O(list) per row
_EITHER = "({} OR {})"
_DOCUMENT_TRUE = "coalesce({}, false)"
_DOCUMENT_FALSE = "NOT coalesce({}, false)"
_DOCUMENT_TESTS = {"$contains": "contains(document, {})", "$regex": "regexp_matches(document, {})"}
_OPERATORS = {"$eq": "=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_COLUMNS = {bool: "bool_value", int: "int_value", float: "float_value", str: "str_value"}
_TYPES = {bool: "BOOLEAN", int: "BIGINT", float: "DOUBLE", str: "VARCHAR"}
_SMALL_SET = 32  # up to this many values list_contains beats building a hash table

_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
SUBQUERY_LIMIT = 8
"""Metadata conditions up to which each is its own ``IN (subquery)``: the fastest plan for a few
(a third of the grouped scan's time on 200k records), superlinear to plan past a few dozen."""


@dataclass(frozen=True)
class CompiledFilter:
    """A boolean SQL expression over ``records``; ``params`` bind positionally to ``$1..$n``."""

    sql: str
    params: tuple
    keys: frozenset = field(default=frozenset(), compare=False)  # metadata keys read: the engine scans only those
    node: Optional[Node] = field(default=None, compare=False)  # the flattened AST: typed columns compile from it


def compile_filter(node: Optional[Node], subquery_limit: int = SUBQUERY_LIMIT) -> Optional[CompiledFilter]:
    """Compile an AST from ``parse_filter``; None (no filter) stays None.

    Up to ``subquery_limit`` metadata conditions each become a ``rowid [NOT] IN (subquery)`` (the
    fastest plan for a few); more become flag columns of one grouped scan.
    """
    if node is None:
        return None
    node = flatten(node)
    compiler = _Compiler(flags=_metadata_conditions(node) > subquery_limit)
    condition = compiler.condition(node)
    if compiler.flags:
        sql = _SELECTED.format(_STATEMENT.format(flags=", ".join(compiler.flags), condition=condition))
    else:
        sql = condition
    return CompiledFilter(sql, tuple(compiler.params.values), _keys(node), node)


def _metadata_conditions(node: Node) -> int:
    count, stack = 0, [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (And, Or)):
            stack.extend(item.children)
        elif not isinstance(item, DocumentMatch):
            count += 1
    return count


def flatten(node: Node) -> Node:
    """The same filter with nested ``$and`` in ``$and`` (and ``$or`` in ``$or``) merged and repeated
    children dropped; iterative, and refusing ASTs nested deeper than the parser allows."""
    if not isinstance(node, (And, Or)):
        return node
    done: dict[int, Node] = {}
    stack: list[tuple[And | Or, int]] = [(node, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_FILTER_DEPTH:
            raise InvalidArgumentError(f"Invalid where clause: filters nest at most {MAX_FILTER_DEPTH} $and/$or deep")
        pending = [c for c in item.children if isinstance(c, (And, Or)) and id(c) not in done]
        if pending:
            stack.append((item, depth))
            stack.extend((c, depth + 1) for c in pending)
            continue
        children: dict[Any, Node] = {}
        for child in item.children:
            child = done.get(id(child), child)
            parts = child.children if isinstance(child, (And, Or)) and type(child) is type(item) else (child,)
            for part in parts:
                children.setdefault(_identity(part), part)
        merged = _as_sets(tuple(children.values()), type(item))
        done[id(item)] = merged[0] if len(merged) == 1 else type(item)(merged)
    return done[id(node)]


def _as_sets(children: tuple, kind: type) -> tuple:
    """``$or`` of ``$eq`` (``$and`` of ``$ne``) on one key with one value type -> one ``$in``
    (``$nin``): the same test (see ``_compare`` / ``_in_set``), and one hash lookup instead of a
    condition per value."""
    op = "$eq" if kind is Or else "$ne"
    set_op: SetOp = "$in" if kind is Or else "$nin"
    groups: dict[tuple, list] = {}
    for child in children:
        if isinstance(child, Compare) and child.op == op:
            groups.setdefault((child.key, type(child.value)), []).append(child.value)
    if all(len(values) == 1 for values in groups.values()):
        return children
    out: list[Node] = []
    emitted: set[tuple] = set()
    for child in children:
        group = (child.key, type(child.value)) if isinstance(child, Compare) and child.op == op else None
        if group is None or len(groups[group]) == 1:
            out.append(child)
        elif group not in emitted:
            emitted.add(group)
            out.append(InSet(child.key, set_op, tuple(groups[group])))
    return tuple(out)


def _identity(node: Node) -> Any:
    """A hashable key equal only for nodes with the same meaning (``True == 1`` in Python, not here)."""
    if isinstance(node, (And, Or)):
        return (type(node), tuple(_identity(c) for c in node.children))
    return (type(node), tuple(_typed(getattr(node, f)) for f in node.__dataclass_fields__))


def _typed(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_typed(v) for v in value)
    return (type(value), value)


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
    """Collects bound values and hands out their placeholders.

    With ``literals``, numbers and booleans are written as typed literals instead (our own
    rendering of a Python int/float/bool, never user text) and each distinct string is bound once:
    DuckDB plans a statement with thousands of parameters in superlinear time.
    """

    def __init__(self, literals: bool = False) -> None:
        self.values: list[Any] = []
        self.literals = literals
        self._refs: dict[Any, str] = {}

    def bind(self, value: Any) -> str:
        if not self.literals:
            self.values.append(value)
            return f"${len(self.values)}"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):  # int's own rendering, whatever a subclass would print
            return f"({int.__repr__(value)})"
        if isinstance(value, float):  # finite (the parser refuses NaN and infinities)
            text = float.__repr__(value)  # the shortest exact form; with an exponent DuckDB reads a DOUBLE
            return f"({text if 'e' in text else text + 'e0'})"
        identity = _typed(value)
        ref = self._refs.get(identity)
        if ref is None:
            self.values.append(value)
            ref = self._refs[identity] = f"${len(self.values)}"
        return ref


class _Compiler:
    """The condition over ``records`` (and, with ``flags``, the flag columns it reads)."""

    def __init__(self, flags: bool) -> None:
        self.params = _Params(literals=flags)
        self.use_flags = flags
        self.flags: list[str] = []
        self._numbers: dict[Any, int] = {}  # a positive metadata test -> its flag number

    def condition(self, node: Node) -> str:
        return _RULES[type(node)](node, self)

    def metadata(self, node: Compare | InSet | ArrayContains, entry: str, test: Callable[[], str]) -> str:
        """``node`` as a test of its positive form (binds the key first, then the value), negated
        for ``$ne``/``$nin``/``$not_contains``: a subquery, or a flag shared by both forms."""
        if not self.use_flags:
            body = entry.format(key=self.params.bind(node.key), test=test())
            return (_LACKS_METADATA if is_negative(node.op) else _HAS_METADATA).format(body)
        identity = (type(node), node.key, positive(node.op), _typed(getattr(node, "value", None)),
                    _typed(getattr(node, "values", None)))
        number = self._numbers.get(identity)
        if number is None:
            number = self._numbers[identity] = len(self.flags) + 1
            body = entry.format(key=self.params.bind(node.key), test=test())
            self.flags.append(_FLAG.format(test=body, number=number))
        return (_FLAG_FALSE if is_negative(node.op) else _FLAG_TRUE).format(number)


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

_Rule = Callable[[Any, _Compiler], str]
_RULES: dict[type, _Rule] = {}


def _rule(node_type: type) -> Callable[[_Rule], _Rule]:
    def register(fn: _Rule) -> _Rule:
        _RULES[node_type] = fn
        return fn

    return register


@_rule(And)
def _and(node: And, c: _Compiler) -> str:
    return _GROUP.format(_AND.join(c.condition(child) for child in node.children))


@_rule(Or)
def _or(node: Or, c: _Compiler) -> str:
    return _GROUP.format(_OR.join(c.condition(child) for child in node.children))


@_rule(Compare)
def _compare(node: Compare, c: _Compiler) -> str:
    op = _OPERATORS[positive(node.op)]
    params = c.params

    def test() -> str:
        value = node.value
        if isinstance(value, (bool, str)):
            return _COMPARE.format(column=_COLUMNS[type(value)], op=op, value=params.bind(value))
        if isinstance(value, int):  # Rust's ``i as f64``: DuckDB's cast of a BIGINT, or Python's float(i)
            int_ref = params.bind(value)
            float_ref = params.bind(float(value)) if params.literals else int_ref
        else:
            int_ref, float_ref = params.bind(as_i64(value)), params.bind(value)
        return _EITHER.format(
            _COMPARE.format(column="int_value", op=op, value=_cast(int_ref, int)),
            _COMPARE.format(column="float_value", op=op, value=_cast(float_ref, float)),
        )

    return c.metadata(node, _SCALAR_ENTRY, test)


@_rule(InSet)
def _in_set(node: InSet, c: _Compiler) -> str:
    params = c.params
    member = _IN_LIST if len(node.values) <= _SMALL_SET else _IN_TABLE

    def test() -> str:
        kind = type(node.values[0])
        if kind in (bool, str):
            ref = _cast(params.bind(tuple(node.values)), kind, array=True)
            return member.format(values=ref, column=_COLUMNS[kind])
        if kind is int:
            int_ref = float_ref = params.bind(tuple(node.values))
        else:
            int_ref = params.bind(tuple(as_i64(cast(float, v)) for v in node.values))
            float_ref = params.bind(tuple(node.values))
        return _EITHER.format(
            member.format(values=_cast(int_ref, int, array=True), column="int_value"),
            member.format(values=_cast(float_ref, float, array=True), column="float_value"),
        )

    return c.metadata(node, _SCALAR_ENTRY, test)


@_rule(ArrayContains)
def _array_contains(node: ArrayContains, c: _Compiler) -> str:
    def test() -> str:
        kind = type(node.value)
        ref = c.params.bind(node.value)
        value = _cast(ref, kind) if kind in (int, float) else ref
        return _COMPARE.format(column=_COLUMNS[kind], op="=", value=value)

    return c.metadata(node, _ARRAY_ENTRY, test)


@_rule(DocumentMatch)
def _document(node: DocumentMatch, c: _Compiler) -> str:
    test = _DOCUMENT_TESTS[positive(node.op)].format(c.params.bind(node.pattern))
    return (_DOCUMENT_FALSE if is_negative(node.op) else _DOCUMENT_TRUE).format(test)
