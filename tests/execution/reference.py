"""A slow, obvious model of Chroma's search semantics over plain records, for the executor tests.

It reads the wire payload (``Search.to_dict()``), not the expression classes, and keeps records
in Python lists and dicts. Records: ``{"id", "embedding" (float32 array), "document", "metadata"}``
in insertion order. The rules (docs: chroma-core/chroma ``rust/worker/src/execution/operators``):
Knn = the ``limit`` nearest filtered records; rank arithmetic in float32 over (scores, default)
domains; sort by (score, insertion order); group; offset/limit; select.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from chroma_frame.filters import matches, parse_filter

F = np.float32
_DOC_OPS = ("$contains", "$not_contains", "$regex", "$not_regex")


# -- filter ------------------------------------------------------------------------------------


def admits(where: Optional[dict], record: dict) -> bool:
    if not where:
        return True
    if "$and" in where:
        return all(admits(w, record) for w in where["$and"])
    if "$or" in where:
        return any(admits(w, record) for w in where["$or"])
    ((key, condition),) = where.items()
    ((op, value),) = condition.items()
    if key == "#id" and op in ("$eq", "$ne", "$in", "$nin"):
        hit = record["id"] in (value if op in ("$in", "$nin") else [value])
        return hit if op in ("$eq", "$in") else not hit
    if key == "#document" and op in _DOC_OPS:
        return matches(parse_filter(None, {op: value}), record)
    return matches(parse_filter({key: {op: value}}, None), record)


# -- knn ---------------------------------------------------------------------------------------


def distance(a: np.ndarray, b: np.ndarray, space: str) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    if space == "ip":
        return 1.0 - float(a @ b)
    if space == "cosine":
        return 1.0 - float(a @ b) / (float(np.linalg.norm(a) * np.linalg.norm(b)) + 1e-30)
    return float(((a - b) ** 2).sum())


def knn(records: list[dict], body: dict, space: str, live: Optional[list[dict]] = None,
        bm25: bool = False) -> list[tuple[int, float]]:
    """(record index, distance) of the ``limit`` nearest, nearest first. A sparse query scores
    ``1 - q·d`` over the records sharing a dimension with it (``q`` IDF-weighted with ``bm25``,
    the IDF counted over ``live``, all records)."""
    if isinstance(body["query"], dict):
        scored = sparse_scores(records, body["query"], body.get("key"), live or records, bm25)
    else:
        query = np.asarray(body["query"], dtype=np.float32)
        scored = sorted((distance(query, r["embedding"], space), i) for i, r in enumerate(records))
    return [(i, d) for d, i in scored[: body.get("limit", 16)]]


def sparse_scores(records: list[dict], query: dict, key: str, live: list[dict], bm25: bool) -> list:
    def vector(record: dict) -> dict:
        value = (record["metadata"] or {}).get(key)
        return dict(zip(value.indices, value.values)) if value is not None else {}

    weights = dict(zip(query["indices"], query["values"]))
    if bm25:
        n = len(live)
        for dim in weights:
            n_t = sum(1 for r in live if dim in vector(r))
            weights[dim] *= math.log1p((n - n_t + 0.5) / (n_t + 0.5))
    scored = []
    for i, record in enumerate(records):
        v = vector(record)
        if set(v) & set(weights):
            scored.append((1.0 - sum(w * v[d] for d, w in weights.items() if d in v), i))
    return sorted(scored)


# -- rank --------------------------------------------------------------------------------------


def _fmax(a: F, b: F) -> F:
    return b if math.isnan(a) else a if math.isnan(b) else max(a, b)


def _fmin(a: F, b: F) -> F:
    return b if math.isnan(a) else a if math.isnan(b) else min(a, b)


_OPS = {"$sum": lambda a, b: F(a + b), "$mul": lambda a, b: F(a * b), "$max": _fmax, "$min": _fmin,
        "$sub": lambda a, b: F(a - b), "$div": lambda a, b: F(a / b) if b != 0 else _div0(a, b)}
_START = {"$sum": F(0), "$mul": F(1), "$max": F(np.finfo(F).min), "$min": F(np.finfo(F).max)}


def _div0(a: F, b: F) -> F:
    with np.errstate(all="ignore"):
        return F(np.float32(a) / np.float32(b))


def _merge(left: tuple[dict, Any], right: tuple[dict, Any], op) -> tuple[dict, Any]:
    (ls, ld), (rs, rd) = left, right
    if ld is not None and rd is not None:
        ids = set(ls) | set(rs)
        return {i: op(ls.get(i, ld), rs.get(i, rd)) for i in ids}, op(ld, rd)
    if ld is not None:
        return {i: op(ls.get(i, ld), v) for i, v in rs.items()}, None
    if rd is not None:
        return {i: op(v, rs.get(i, rd)) for i, v in ls.items()}, None
    return {i: op(ls[i], rs[i]) for i in set(ls) & set(rs)}, None


def rank(expr: dict, knn_results: list, position: list) -> tuple[dict, Any]:
    """(record index -> float32 score, default). ``position[0]`` walks the Knns depth first."""
    ((op, body),) = expr.items()
    if op == "$knn":
        result = knn_results[position[0]]
        position[0] += 1
        scores = {i: F(n if body.get("return_rank") else d) for n, (i, d) in enumerate(result)}
        return scores, None if body.get("default") is None else F(body["default"])
    if op == "$val":
        return {}, F(body)
    if op in ("$sub", "$div"):
        return _merge(rank(body["left"], knn_results, position), rank(body["right"], knn_results, position), _OPS[op])
    if op in ("$abs", "$exp", "$log"):
        scores, default = rank(body, knn_results, position)
        fn = {"$abs": np.abs, "$exp": np.exp, "$log": np.log}[op]
        with np.errstate(all="ignore"):
            return {i: F(fn(v)) for i, v in scores.items()}, None if default is None else F(fn(default))
    domain: tuple[dict, Any] = ({}, _START[op])
    for child in body:
        domain = _merge(domain, rank(child, knn_results, position), _OPS[op])
    return domain


def knn_bodies(expr: dict) -> list[dict]:
    ((op, body),) = expr.items()
    if op == "$knn":
        return [body]
    if op == "$val":
        return []
    if op in ("$sub", "$div"):
        return knn_bodies(body["left"]) + knn_bodies(body["right"])
    if op in ("$abs", "$exp", "$log"):
        return knn_bodies(body)
    return [b for child in body for b in knn_bodies(child)]


def total_order(score: F) -> int:
    bits = int(np.array([score], dtype=F).view(np.int32)[0])
    return bits ^ 0x7FFFFFFF if bits < 0 else bits


# -- group by ----------------------------------------------------------------------------------


def _typed(value: Any) -> tuple:
    if value is None:
        return (0,)
    for kind, order in ((bool, 0), (int, 1), (float, 2), (str, 3)):
        if isinstance(value, kind):
            return (1, order, value)
    return (1, 5, tuple(_typed(v) for v in value))


def _field(record: dict, score: F, name: str) -> tuple:
    if name == "#score":
        return (1, 2, float(score))
    return _typed((record["metadata"] or {}).get(name)) if not name.startswith("#") else (0,)


def group(ranked: list[tuple[int, F]], records: list[dict], spec: dict) -> list[tuple[int, F]]:
    ((op, agg),) = spec["aggregate"].items()
    groups: dict[tuple, list] = {}
    for i, s in ranked:
        groups.setdefault(tuple(_field(records[i], s, k) for k in spec["keys"]), []).append((i, s))
    kept = []
    for members in groups.values():
        members = sorted(members, key=lambda m: tuple(_field(records[m[0]], m[1], k) for k in agg["keys"]),
                         reverse=op == "$max_k")
        kept += members[: agg["k"]]
    return sorted(kept, key=lambda m: (total_order(m[1]), m[0]))


# -- the search --------------------------------------------------------------------------------

_SPECIAL = ("#document", "#embedding", "#metadata", "#score")


def search(records: list[dict], payload: dict, space: str, bm25: bool = False) -> dict:
    """One search's ids, selected columns and select list, as Chroma answers."""
    admitted = [i for i, r in enumerate(records) if admits(payload["filter"], r)]
    limit = payload["limit"]
    offset, count = limit.get("offset", 0), limit.get("limit")
    if payload["rank"] is None:
        page = admitted[offset : None if count is None else offset + count]
        hits = [(i, F(n)) for n, i in enumerate(page)]
    else:
        subset = [records[i] for i in admitted]
        results = [[(admitted[j], d) for j, d in knn(subset, body, space, records, bm25)]
                   for body in knn_bodies(payload["rank"])]
        scores, _ = rank(payload["rank"], results, [0])
        hits = sorted(scores.items(), key=lambda m: (total_order(m[1]), m[0]))
        if payload["group_by"]:
            hits = group(hits, records, payload["group_by"])
        hits = hits[offset : None if count is None else offset + count]
    keys = set(payload["select"]["keys"])
    fields = sorted(keys - set(_SPECIAL))
    out = {"ids": [records[i]["id"] for i, _ in hits],
           "select": [k for k in _SPECIAL if k in keys] + fields,
           "documents": [records[i]["document"] for i, _ in hits] if "#document" in keys else None,
           "embeddings": [records[i]["embedding"].tolist() for i, _ in hits] if "#embedding" in keys else None,
           "scores": [float(s) for _, s in hits] if "#score" in keys else None,
           "metadatas": None}
    if fields or "#metadata" in keys:
        metas = []
        for i, _ in hits:
            m = records[i]["metadata"] or {}
            m = m if "#metadata" in keys else {k: m[k] for k in fields if k in m}
            metas.append(m or None)
        out["metadatas"] = metas
    return out
