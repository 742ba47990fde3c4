"""parse_filter: Chroma's validation errors (class and message) and the AST it builds."""

from __future__ import annotations

import pytest

from chroma_frame.errors import InvalidArgumentError
from chroma_frame.filters import parse_filter
from chroma_frame.filters.ast import And, ArrayContains, Compare, DocumentMatch, InSet, Or

from .filter_cases import ALL_BAD

_CLASSES = {"ValueError": ValueError, "TypeError": TypeError, "InvalidArgumentError": InvalidArgumentError}


@pytest.mark.parametrize("where, where_document, cls, message", ALL_BAD, ids=[repr(c[:2])[:60] for c in ALL_BAD])
def test_bad_filters_raise_chromas_error(where, where_document, cls, message):
    with pytest.raises(Exception) as info:
        parse_filter(where, where_document)
    assert type(info.value) is _CLASSES[cls]
    assert str(info.value) == message


def test_python_side_errors_are_not_chroma_errors():
    """The caller appends " in {op}." to ValueError/TypeError only; Rust-side ones stay as they are."""
    with pytest.raises(ValueError) as info:
        parse_filter({}, None)
    assert not isinstance(info.value, InvalidArgumentError)
    assert issubclass(InvalidArgumentError, Exception) and not issubclass(InvalidArgumentError, ValueError)


def test_no_filter():
    assert parse_filter(None, None) is None


@pytest.mark.parametrize(
    "where, where_document, expected",
    [
        ({"a": "x"}, None, Compare("a", "$eq", "x")),
        ({"a": True}, None, Compare("a", "$eq", True)),
        ({"a": {"$gte": 2}}, None, Compare("a", "$gte", 2)),
        ({"a": {"$lt": 2**64}}, None, Compare("a", "$lt", float(2**64))),  # read as f64 by serde_json
        ({"a": -(2**63) - 1}, None, Compare("a", "$eq", -9.223372036854775808e18)),
        ({"a": {"$in": [1, 2]}}, None, InSet("a", "$in", (1, 2))),
        ({"a": {"$nin": [2**64, 1]}}, None, InSet("a", "$nin", (float(2**64), 1.0))),
        ({"a": {"$contains": 1.5}}, None, ArrayContains("a", "$contains", 1.5)),
        ({"#document": {"$not_contains": ""}}, None, DocumentMatch("$not_contains", "")),
        ({"#document": 1}, None, Compare("#document", "$eq", 1)),  # not a string: an ordinary key
        (None, {"$regex": "(?i)ab$"}, DocumentMatch("$regex", "(?i)ab$")),
        (
            {"$or": [{"a": 1}, {"$and": [{"b": "x"}, {"c": {"$ne": False}}]}]},
            {"$not_contains": "z"},
            And(
                (
                    Or((Compare("a", "$eq", 1), And((Compare("b", "$eq", "x"), Compare("c", "$ne", False))))),
                    DocumentMatch("$not_contains", "z"),
                )
            ),
        ),
    ],
)
def test_ast(where, where_document, expected):
    node = parse_filter(where, where_document)
    assert node == expected
    assert [type(v) for v in _values(node)] == [type(v) for v in _values(expected)]
    hash(node)  # frozen all the way down


def _values(node):
    if isinstance(node, (And, Or)):
        return [v for child in node.children for v in _values(child)]
    if isinstance(node, InSet):
        return list(node.values)
    return [getattr(node, "value", getattr(node, "pattern", None))]


def test_input_is_not_mutated():
    where = {"$and": [{"a": {"$in": [1, 2]}}, {"b": 2**64}]}
    before = repr(where)
    parse_filter(where, {"$regex": "a"})
    assert repr(where) == before
