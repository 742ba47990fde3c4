"""Hypothesis recipes for Search API expressions, built the same way with chromadb and chroma-frame.

A recipe is plain data (tuples); ``build(lib, recipe)`` turns it into expressions of one library,
so both libraries receive exactly the same sequence of constructor calls and operators.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

from hypothesis import strategies as st


def library(name: str) -> SimpleNamespace:
    if name == "chromadb":
        import chromadb.base_types as base
        import chromadb.execution.expression as expr
    else:
        import chroma_frame.base_types as base  # type: ignore[no-redef]
        import chroma_frame.execution.expression as expr  # type: ignore[no-redef]
    return SimpleNamespace(expr=expr, SparseVector=base.SparseVector)


# -- values ------------------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False, width=32)
scalars = st.one_of(st.integers(-(2**40), 2**40), finite, st.booleans(), st.text(max_size=4))
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.none())
keys = st.sampled_from(["a", "b", "year", "#document", "#id", "#score", "with space"])

# -- where -------------------------------------------------------------------------------------

_KEY_METHODS = ["==", "!=", ">", ">=", "<", "<=", "is_in", "not_in", "contains", "not_contains", "regex", "not_regex"]
_CLASSES = ["Eq", "Ne", "Gt", "Gte", "Lt", "Lte", "In", "Nin", "Contains", "NotContains", "Regex", "NotRegex"]

where_leaf = st.one_of(
    st.tuples(st.just("key"), st.sampled_from(_KEY_METHODS), keys, values),
    st.tuples(st.just("class"), st.sampled_from(_CLASSES), keys, values),
)
wheres = st.recursive(
    where_leaf,
    lambda children: st.one_of(
        st.tuples(st.sampled_from(["&", "|"]), children, children),
        st.tuples(st.sampled_from(["And", "Or"]), st.lists(children, max_size=3)),
    ),
    max_leaves=6,
)


def build_where(lib: SimpleNamespace, r: Any) -> Any:
    e = lib.expr
    if r[0] == "key":
        _, method, key, value = r
        k = e.Key(key)
        ops = {"==": k.__eq__, "!=": k.__ne__, ">": k.__gt__, ">=": k.__ge__, "<": k.__lt__, "<=": k.__le__}
        return ops[method](value) if method in ops else getattr(k, method)(value)
    if r[0] == "class":
        return getattr(e, r[1])(r[2], r[3])
    if r[0] in ("&", "|"):
        left, right = build_where(lib, r[1]), build_where(lib, r[2])
        return left & right if r[0] == "&" else left | right
    return getattr(e, r[0])([build_where(lib, c) for c in r[1]])


# -- rank --------------------------------------------------------------------------------------

dense = st.lists(finite, min_size=1, max_size=4)
sparse = st.lists(st.integers(0, 50), max_size=4, unique=True).flatmap(
    lambda idx: st.tuples(st.just(sorted(idx)), st.lists(finite, min_size=len(idx), max_size=len(idx)))
)
knn = st.tuples(
    st.just("knn"),
    st.one_of(st.tuples(st.just("dense"), dense), st.tuples(st.just("sparse"), sparse)),
    st.sampled_from(["#embedding", "sparse_embedding", "K.EMBEDDING"]),
    st.integers(1, 300),
    st.one_of(st.none(), finite, st.integers(0, 10_000)),
    st.booleans(),
)
rank_leaf = st.one_of(knn, st.tuples(st.just("val"), st.one_of(finite, st.integers(-100, 100))))
numbers = st.one_of(finite, st.integers(-10, 10))
ranks = st.recursive(
    rank_leaf,
    lambda children: st.one_of(
        st.tuples(st.sampled_from(["+", "-", "*", "/", "max", "min"]), children, st.one_of(children, numbers)),
        st.tuples(st.sampled_from(["r+", "r-", "r*", "r/"]), numbers, children),
        st.tuples(st.sampled_from(["neg", "abs", "exp", "log", "builtin_abs"]), children),
        st.tuples(st.sampled_from(["Sum", "Mul", "Max", "Min"]), st.lists(children, max_size=3)),
        st.tuples(st.sampled_from(["Sub", "Div"]), children, children),
        st.tuples(st.just("rrf"), st.lists(children, max_size=3), st.integers(-2, 100),
                  st.one_of(st.none(), st.lists(st.floats(-1, 5, allow_nan=False), max_size=3)), st.booleans()),
    ),
    max_leaves=6,
)

_BINARY = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b,
           "max": lambda a, b: a.max(b), "min": lambda a, b: a.min(b)}


def build_rank(lib: SimpleNamespace, r: Any) -> Any:
    e = lib.expr
    op = r[0]
    if op == "knn":
        (kind, q), key, limit, default, return_rank = r[1:]
        query = q if kind == "dense" else lib.SparseVector(indices=q[0], values=q[1])
        key = e.K.EMBEDDING if key == "K.EMBEDDING" else key
        return e.Knn(query=query, key=key, limit=limit, default=default, return_rank=return_rank)
    if op == "val":
        return e.Val(r[1])
    sub = functools.partial(build_rank, lib)
    if op in _BINARY:
        other = r[2] if isinstance(r[2], (int, float)) else sub(r[2])
        return _BINARY[op](sub(r[1]), other)
    if op.startswith("r"):
        if op == "rrf":
            return e.Rrf(ranks=[sub(c) for c in r[1]], k=r[2], weights=r[3], normalize=r[4])
        number, child = r[1], sub(r[2])  # the number on the left: Rank.__radd__ and friends
        return {"r+": lambda: number + child, "r-": lambda: number - child,
                "r*": lambda: number * child, "r/": lambda: number / child}[op]()
    if op in ("neg", "abs", "exp", "log", "builtin_abs"):
        child = sub(r[1])
        return {"neg": lambda: -child, "abs": child.abs, "exp": child.exp, "log": child.log,
                "builtin_abs": lambda: abs(child)}[op]()
    if op in ("Sub", "Div"):
        return getattr(e, op)(sub(r[1]), sub(r[2]))
    return getattr(e, op)([sub(c) for c in r[1]])


# -- search ------------------------------------------------------------------------------------

select_keys = st.lists(st.sampled_from(["#document", "#embedding", "#metadata", "#score", "#id", "title", "K.SCORE"]),
                       max_size=4)
group_bys = st.one_of(
    st.none(),
    st.tuples(st.one_of(st.sampled_from(["category", "K.SCORE"]), st.lists(st.sampled_from(["category", "year"]), max_size=2)),
              st.sampled_from(["MinK", "MaxK"]), st.lists(st.sampled_from(["#score", "priority"]), min_size=1, max_size=2),
              st.integers(1, 5)),
)
limits = st.one_of(st.none(), st.tuples(st.just("int"), st.integers(-1, 50)),
                   st.tuples(st.just("builder"), st.integers(1, 50), st.integers(0, 20)),
                   st.tuples(st.just("dict"), st.fixed_dictionaries({}, optional={"limit": st.integers(-1, 9),
                                                                                  "offset": st.integers(-1, 9)})))
searches = st.fixed_dictionaries({
    "where": st.one_of(st.none(), wheres),
    "rank": st.one_of(st.none(), ranks),
    "group_by": group_bys,
    "limit": limits,
    "select": st.one_of(st.none(), st.tuples(st.sampled_from(["list", "set", "builder", "all"]), select_keys)),
})


def _key(lib: SimpleNamespace, name: str) -> Any:
    return lib.expr.K.SCORE if name == "K.SCORE" else name


def build_search(lib: SimpleNamespace, r: dict) -> Any:
    e = lib.expr
    s = e.Search()
    if r["where"] is not None:
        s = s.where(build_where(lib, r["where"]))
    if r["rank"] is not None:
        s = s.rank(build_rank(lib, r["rank"]))
    if r["group_by"] is not None:
        keys, agg, agg_keys, k = r["group_by"]
        keys = [_key(lib, x) for x in keys] if isinstance(keys, list) else _key(lib, keys)
        s = s.group_by(e.GroupBy(keys=keys, aggregate=getattr(e, agg)(keys=[e.Key(x) for x in agg_keys], k=k)))
    if r["limit"] is not None:
        kind, *args = r["limit"]
        s = s.limit(*args) if kind == "builder" else e.Search(
            where=s._where, rank=s._rank, group_by=s._group_by, limit=args[0], select=s._select)
    if r["select"] is not None:
        kind, names = r["select"]
        names = [_key(lib, x) for x in names]
        if kind == "builder":
            s = s.select(*names)
        elif kind == "all":
            s = s.select_all()
        else:
            s = e.Search(where=s._where, rank=s._rank, group_by=s._group_by, limit=s._limit,
                         select=names if kind == "list" else set(names))
    return s


# -- arbitrary JSON for from_dict error parity -------------------------------------------------

_NAMES = ["$and", "$or", "$eq", "$ne", "$gt", "$in", "$nin", "$contains", "$regex", "$not_regex", "$bad",
          "$knn", "$val", "$sum", "$sub", "$mul", "$div", "$abs", "$exp", "$log", "$max", "$min", "query",
          "key", "limit", "default", "return_rank", "left", "right", "keys", "k", "aggregate", "offset",
          "$min_k", "$max_k", "#type", "indices", "values", "a", "#document"]
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 20), st.floats(-2, 2, allow_nan=False), st.text(max_size=3),
              st.just("sparse_vector")),
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.sampled_from(_NAMES), children, max_size=3)),
    max_leaves=8,
)
json_dicts = st.dictionaries(st.sampled_from(_NAMES), json_values, max_size=3)
