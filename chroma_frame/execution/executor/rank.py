"""Evaluate a rank expression over the records its ``Knn``s returned, as Chroma's executor does.

Every sub-expression is a *domain*: scores for some records (its support) plus an optional
default for the others. A ``Knn`` supports the records it returned, with ``default`` elsewhere;
``Val(x)`` supports nothing and defaults to ``x``. Combining two domains:

- both have defaults: the union of the supports (a missing side takes its default);
- one has a default: the support of the other side;
- neither: the intersection.

So a record missing from a ``Knn`` whose ``default`` is None is dropped by any arithmetic with
that ``Knn``, and only supported records are ever returned. All arithmetic is float32, like
Chroma's; domains are arrays over the union of all Knn results, so evaluation is vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np

from chroma_frame.execution.executor.knn import KnnResult
from chroma_frame.execution.expression.rank import Abs, Div, Exp, Knn, Log, Max, Min, Mul, Rank, Sub, Sum, Val

F32 = np.float32
_FOLD_START: dict[type, np.float32] = {Sum: F32(0.0), Mul: F32(1.0), Max: np.finfo(F32).min, Min: np.finfo(F32).max}
_COMBINE: dict[type, Callable[[Any, Any], Any]] = {
    Sum: np.add, Mul: np.multiply, Max: np.fmax, Min: np.fmin, Sub: np.subtract, Div: np.divide,
}
_APPLY: dict[type, Callable[[Any], Any]] = {Abs: np.abs, Exp: np.exp, Log: np.log}


@dataclass(frozen=True)
class Domain:
    present: np.ndarray  # bool per record of the universe
    values: np.ndarray  # float32 per record (meaningless where not present)
    default: Optional[np.float32]

    def full(self) -> np.ndarray:
        """Values with the default filled in where not present."""
        if self.default is None:
            return self.values
        return np.where(self.present, self.values, self.default).astype(F32)


def evaluate(rank: Rank, knns: Sequence[Knn], results: Sequence[KnnResult]) -> tuple[np.ndarray, np.ndarray]:
    """(positions, float32 scores) of the records the expression ranks, in no particular order."""
    universe = np.unique(np.concatenate([r.positions for r in results])) if results else np.zeros(0, np.int64)
    by_node = {id(knn): result for knn, result in zip(knns, results)}
    with np.errstate(all="ignore"):  # x/0, log(-1): inf and NaN, as in Rust
        domain = _eval(rank, universe, by_node)
    return universe[domain.present], domain.values[domain.present]


def _eval(rank: Rank, universe: np.ndarray, by_node: dict[int, KnnResult]) -> Domain:
    if isinstance(rank, Knn):
        return _knn_domain(rank, by_node[id(rank)], universe)
    if isinstance(rank, Val):
        return _flat(universe, F32(rank.value))
    if isinstance(rank, tuple(_APPLY)):
        inner = _eval(rank.rank, universe, by_node)  # type: ignore[attr-defined]
        apply = _APPLY[type(rank)]
        default = None if inner.default is None else F32(apply(inner.default))
        return Domain(inner.present, apply(inner.values).astype(F32), default)
    if isinstance(rank, (Sub, Div)):
        return _merge(_eval(rank.left, universe, by_node), _eval(rank.right, universe, by_node), _COMBINE[type(rank)])
    if isinstance(rank, tuple(_FOLD_START)):
        combine = _COMBINE[type(rank)]
        domain = _flat(universe, _FOLD_START[type(rank)])
        for child in rank.ranks:  # type: ignore[attr-defined]
            domain = _merge(domain, _eval(child, universe, by_node), combine)
        return domain
    raise TypeError(f"Unknown rank expression {type(rank).__name__}")


def _flat(universe: np.ndarray, value: np.float32) -> Domain:
    return Domain(np.zeros(len(universe), bool), np.zeros(len(universe), F32), F32(value))


def _knn_domain(knn: Knn, result: KnnResult, universe: np.ndarray) -> Domain:
    slots = np.searchsorted(universe, result.positions)
    present = np.zeros(len(universe), bool)
    present[slots] = True
    values = np.zeros(len(universe), F32)
    values[slots] = np.arange(len(slots), dtype=F32) if knn.return_rank else result.scores
    return Domain(present, values, None if knn.default is None else F32(knn.default))


def _merge(left: Domain, right: Domain, combine: Callable[[Any, Any], Any]) -> Domain:
    if left.default is not None and right.default is not None:
        present = left.present | right.present
        default: Optional[np.float32] = F32(combine(left.default, right.default))
    elif left.default is not None:
        present, default = right.present, None
    elif right.default is not None:
        present, default = left.present, None
    else:
        present, default = left.present & right.present, None
    values = combine(left.full(), right.full()).astype(F32)
    return Domain(present, values, default)


def total_order_key(scores: np.ndarray) -> np.ndarray:
    """int32 keys that sort float32 scores like Rust's ``f32::total_cmp`` (NaN last, -NaN first)."""
    bits = np.ascontiguousarray(scores, dtype=F32).view(np.int32)
    return np.where(bits < 0, bits ^ np.int32(0x7FFFFFFF), bits)
