"""Hypothesis strategies: records with mixed metadata, and valid where / where_document trees."""

from __future__ import annotations

from hypothesis import strategies as st

KEYS = ["a", "b"]
QUERY_KEYS = KEYS + ["zz"]  # "zz" is never stored
DOC_ALPHABET = "abAB .\n"

STRS = st.sampled_from(["", "x", "y", "xy", "1"])
INTS = st.sampled_from([1, 2, -1, 0, 2**53 + 1, 2**63 - 1, -(2**63)])
FLOATS = st.sampled_from([1.5, 1.0, 2.0, -1.5, -0.0, 0.0, 2.0**53, 1e300, -1e300])
BOOLS = st.booleans()
SCALARS = st.one_of(STRS, INTS, FLOATS, BOOLS)
# operands Chroma reads as floats or saturates: integers beyond int64
BIG_NUMBERS = st.sampled_from([2**64, -(2**63) - 1, 10**30])
NUMBERS = st.one_of(INTS, FLOATS, BIG_NUMBERS)
OPERANDS = st.one_of(SCALARS, BIG_NUMBERS)


def _lists(elements: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(elements, min_size=1, max_size=3)


LIST_VALUES = st.one_of(_lists(STRS), _lists(INTS), _lists(FLOATS), _lists(BOOLS))
_MISSING = object()


@st.composite
def metadata(draw) -> dict | None:
    """None, or each key missing / scalar of any type / list of one type (Chroma never stores {})."""
    values = {key: draw(st.one_of(st.just(_MISSING), SCALARS, SCALARS, LIST_VALUES)) for key in KEYS}
    present = {key: value for key, value in values.items() if value is not _MISSING}
    return present or None


DOCUMENTS = st.one_of(st.none(), st.text(DOC_ALPHABET, max_size=6))


# Fixed records added to every example, so that each random query meets the type edge cases.
ZOO_METADATA = [
    {"a": 1, "b": [1, 2]},
    {"a": 1.0, "b": [1.0, 2.5]},
    {"a": True, "b": [True]},
    {"a": "1", "b": ["x", "1"]},
    {"a": 2, "b": -1.5},
    {"a": 1.5, "b": [False, True]},
    {"a": -1, "b": 2**63 - 1},
    {"a": 2.0**53, "b": 2**53 + 1},
    {"a": [-1, 2**63 - 1], "b": 0.0},
    None,
]
ZOO_DOCUMENTS = ["ab\n", "A b.", None, "", "ba", "\nab", "a.b", "B", "aa", None]
ZOO = [
    {"id": f"z{i}", "document": doc, "metadata": md}
    for i, (doc, md) in enumerate(zip(ZOO_DOCUMENTS, ZOO_METADATA))
]


@st.composite
def records(draw, max_size: int = 10, zoo: bool = True) -> list[dict]:
    """Random records ``r0, r1, ...``, followed by the ZOO (``z0, ...``) unless ``zoo=False``."""
    pairs = draw(st.lists(st.tuples(DOCUMENTS, metadata()), min_size=1, max_size=max_size))
    drawn = [{"id": f"r{i}", "document": doc, "metadata": md} for i, (doc, md) in enumerate(pairs)]
    return drawn + (ZOO if zoo else [])


REGEXES = st.builds(
    lambda flag, start, body, end: flag + start + "".join(body) + end,
    st.sampled_from(["", "(?i)"]),
    st.sampled_from(["", "^"]),
    st.lists(st.sampled_from(["a", "b", "A", " ", ".", "\\."]), min_size=1, max_size=3),
    st.sampled_from(["", "$"]),
)
SUBSTRINGS = st.text(DOC_ALPHABET, min_size=1, max_size=3)

_SET_OPERANDS = st.one_of(
    _lists(STRS), _lists(INTS), _lists(FLOATS), _lists(BOOLS), st.just([2**64, 1]), st.just([1.0, 2.5])
)


def _where_leaf() -> st.SearchStrategy:
    key = st.sampled_from(QUERY_KEYS)
    return st.one_of(
        st.builds(lambda k, v: {k: v}, key, st.one_of(SCALARS, BIG_NUMBERS)),
        st.builds(lambda k, v: {k: v}, key, NUMBERS),
        st.builds(lambda k, op, v: {k: {op: v}}, key, st.sampled_from(["$eq", "$ne"]), OPERANDS),
        st.builds(lambda k, op, v: {k: {op: v}}, key, st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), NUMBERS),
        st.builds(lambda k, op, v: {k: {op: v}}, key, st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), NUMBERS),
        st.builds(lambda k, op, v: {k: {op: v}}, key, st.sampled_from(["$in", "$nin"]), _SET_OPERANDS),
        st.builds(lambda k, op, v: {k: {op: v}}, key, st.sampled_from(["$contains", "$not_contains"]), OPERANDS),
        st.builds(lambda k, op, v: {k: {op: v}}, key, st.sampled_from(["$contains", "$not_contains"]), OPERANDS),
        st.builds(
            lambda op, v: {"#document": {op: v}},
            st.sampled_from(["$contains", "$not_contains"]),
            st.text(DOC_ALPHABET, max_size=3),
        ),
    )


def _document_leaf() -> st.SearchStrategy:
    return st.one_of(
        st.builds(lambda op, v: {op: v}, st.sampled_from(["$contains", "$not_contains"]), SUBSTRINGS),
        st.builds(lambda op, v: {op: v}, st.sampled_from(["$regex", "$not_regex"]), REGEXES),
    )


def _tree(leaf: st.SearchStrategy, depth: int) -> st.SearchStrategy:
    """Leaves, or $and/$or of 2-3 subtrees; at most ``depth`` levels of $and/$or."""
    if depth == 0:
        return leaf
    branch = st.builds(
        lambda op, children: {op: children},
        st.sampled_from(["$and", "$or"]),
        st.lists(_tree(leaf, depth - 1), min_size=2, max_size=3),
    )
    return st.one_of(leaf, leaf, branch)


WHERE_LEAVES = _where_leaf()
DOCUMENT_LEAVES = _document_leaf()
LEAVES = st.one_of(
    st.tuples(WHERE_LEAVES, st.none()), st.tuples(WHERE_LEAVES, st.none()), st.tuples(st.none(), DOCUMENT_LEAVES)
)
WHERES = _tree(WHERE_LEAVES, 2)
WHERE_DOCUMENTS = _tree(DOCUMENT_LEAVES, 2)
FILTERS = st.tuples(st.one_of(st.none(), WHERES, WHERES), st.one_of(st.none(), WHERE_DOCUMENTS))
