"""Rank expressions: ``Knn``, ``Val``, arithmetic (``+ - * /``, ``abs``, ``exp``, ``log``, ``max``,
``min``) and ``Rrf``. Lower scores rank first.

``to_dict`` / ``from_dict`` follow Chroma 1.5.9's client exactly, including how ``+``, ``*``,
``max`` and ``min`` flatten nested sums/products and how ``Rrf`` compiles to arithmetic.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Union

import numpy as np

from chroma_frame import validation as v
from chroma_frame.base_types import SPARSE_VECTOR_TYPE_VALUE, TYPE_KEY, SparseVector
from chroma_frame.execution.expression.where import Key, key_name
from chroma_frame.execution.expression.wire import one_operator

RankDict = Dict[str, Any]
Number = Union[int, float]
SPARSE_TYPE_KEY, SPARSE_TYPE_VALUE = TYPE_KEY, SPARSE_VECTOR_TYPE_VALUE


def _rank(value: Any) -> Any:
    """Numbers become ``Val``; anything else is taken as a rank."""
    return Val(value) if isinstance(value, (int, float)) else value


def _splice(left: Any, right: Any, kind: type[Sum] | type[Mul] | type[Max] | type[Min]) -> Any:
    """``kind([left, right])``, splicing operands that already are a ``kind``."""
    parts = lambda r: list(r.ranks) if isinstance(r, kind) else [r]  # noqa: E731
    return kind(parts(left) + parts(right))


class Rank:
    """A scoring expression over the records that its ``Knn``s return."""

    def to_dict(self) -> RankDict:
        raise NotImplementedError("Subclasses must implement to_dict()")

    @staticmethod
    def from_dict(data: RankDict) -> "Rank":
        """The expression of ``{"$knn": {...}}``, ``{"$val": x}``, ``{"$sum": [...]}``, ..."""
        op, body, parse = one_operator(data, "Rank", _FROM_OPERATOR)
        return parse(op, body)

    # -- arithmetic ------------------------------------------------------------------------
    def __add__(self, other: Any) -> "Sum":
        return _splice(self, _rank(other), Sum)

    def __radd__(self, other: Number) -> "Sum":
        return Val(other) + self

    def __sub__(self, other: Any) -> "Sub":
        return Sub(self, _rank(other))

    def __rsub__(self, other: Number) -> "Sub":
        return Sub(Val(other), self)

    def __mul__(self, other: Any) -> "Mul":
        return _splice(self, _rank(other), Mul)

    def __rmul__(self, other: Number) -> "Mul":
        return Val(other) * self

    def __truediv__(self, other: Any) -> "Div":
        return Div(self, _rank(other))

    def __rtruediv__(self, other: Number) -> "Div":
        return Div(Val(other), self)

    def __neg__(self) -> "Mul":
        return Mul([Val(-1), self])

    def __abs__(self) -> "Abs":
        return Abs(self)

    def abs(self) -> "Abs":
        return Abs(self)

    def exp(self) -> "Exp":
        return Exp(self)

    def log(self) -> "Log":
        return Log(self)

    def max(self, other: Any) -> "Max":
        return _splice(self, _rank(other), Max)

    def min(self, other: Any) -> "Min":
        return _splice(self, _rank(other), Min)


@dataclass
class Val(Rank):
    """A constant score."""

    value: float

    def to_dict(self) -> RankDict:
        return {"$val": self.value}


class _Unary(Rank):
    OP = ""

    def to_dict(self) -> RankDict:
        return {self.OP: self.rank.to_dict()}  # type: ignore[attr-defined]


class _Pair(Rank):
    OP = ""

    def to_dict(self) -> RankDict:
        return {self.OP: {"left": self.left.to_dict(), "right": self.right.to_dict()}}  # type: ignore[attr-defined]


@dataclass
class Abs(_Unary):
    rank: Rank
    OP = "$abs"


@dataclass
class Exp(_Unary):
    rank: Rank
    OP = "$exp"


@dataclass
class Log(_Unary):
    """Natural logarithm."""

    rank: Rank
    OP = "$log"


@dataclass
class Sub(_Pair):
    left: Rank
    right: Rank
    OP = "$sub"


@dataclass
class Div(_Pair):
    left: Rank
    right: Rank
    OP = "$div"


class _Many(Rank):
    OP = ""

    def to_dict(self) -> RankDict:
        return {self.OP: [r.to_dict() for r in self.ranks]}  # type: ignore[attr-defined]


@dataclass
class Sum(_Many):
    ranks: List[Rank]
    OP = "$sum"


@dataclass
class Mul(_Many):
    ranks: List[Rank]
    OP = "$mul"


@dataclass
class Max(_Many):
    ranks: List[Rank]
    OP = "$max"


@dataclass
class Min(_Many):
    ranks: List[Rank]
    OP = "$min"


@dataclass
class Knn(Rank):
    """Nearest neighbours of ``query`` under ``key``: the score is the distance (or, with
    ``return_rank``, the 0-based position). Only the ``limit`` nearest records are scored;
    elsewhere the score is ``default`` (None: the record is not ranked by this expression).

    ``query`` may be text (embedded by the collection), a dense vector, or a sparse vector
    (``SparseVector`` or its ``{"#type": "sparse_vector", ...}`` dict) for a sparse ``key``.
    """

    query: Any
    key: Union[Key, str] = Key.EMBEDDING
    limit: int = 16
    default: Optional[float] = None
    return_rank: bool = False

    def to_dict(self) -> RankDict:
        query = self.query
        if _is_sparse_object(query):
            query = query.to_dict()
        elif isinstance(query, np.ndarray):
            query = query.tolist()
        body: Dict[str, Any] = {"query": query, "key": key_name(self.key), "limit": self.limit}
        if self.default is not None:
            body["default"] = self.default
        if self.return_rank:
            body["return_rank"] = self.return_rank
        return {"$knn": body}


@dataclass
class Rrf(Rank):
    """Reciprocal rank fusion: ``-Σ weight_i / (k + rank_i)`` (use ``Knn(return_rank=True)``)."""

    ranks: List[Rank]
    k: int = 60
    weights: Optional[List[float]] = None
    normalize: bool = False

    def to_dict(self) -> RankDict:
        return self.expression().to_dict()

    def expression(self) -> Rank:
        """The arithmetic this fusion stands for (what travels on the wire)."""
        if not self.ranks:
            raise ValueError("RRF requires at least one rank")
        if self.k <= 0:
            raise ValueError(f"k must be positive, got {self.k}")
        if self.weights is not None:
            if len(self.weights) != len(self.ranks):
                raise ValueError(
                    f"Number of weights ({len(self.weights)}) must match number of ranks ({len(self.ranks)})"
                )
            if any(w < 0.0 for w in self.weights):
                raise ValueError("All weights must be non-negative")
        weights = self.weights or [1.0] * len(self.ranks)
        if self.normalize:
            total = sum(weights)
            if total == 0:
                raise ValueError("Sum of weights must be positive when normalize=True")
            weights = [w / total for w in weights]
        total_rank: Any = None
        for weight, rank in zip(weights, self.ranks):
            term = weight / (self.k + rank)
            total_rank = term if total_rank is None else total_rank + term
        return -total_rank


# -- from_dict ---------------------------------------------------------------------------------


def _child(op: str, body: Any) -> Rank:
    if not isinstance(body, dict):
        raise TypeError(f"{op} requires a rank dict, got {type(body).__name__}")
    return Rank.from_dict(body)


def _unary(build: Callable[[Rank], Rank]) -> Callable[[str, Any], Rank]:
    return lambda op, body: build(_child(op, body))


def _pair(combine: Callable[[Rank, Rank], Rank]) -> Callable[[str, Any], Rank]:
    def parse(op: str, body: Any) -> Rank:
        if not isinstance(body, dict):
            raise TypeError(f"{op} requires a dict with 'left' and 'right', got {type(body).__name__}")
        if "left" not in body or "right" not in body:
            raise ValueError(f"{op} requires 'left' and 'right' fields")
        return combine(Rank.from_dict(body["left"]), Rank.from_dict(body["right"]))

    return parse


def _fold(combine: Callable[[Rank, Rank], Rank]) -> Callable[[str, Any], Rank]:
    def parse(op: str, body: Any) -> Rank:
        if not isinstance(body, (list, tuple)):
            raise TypeError(f"{op} requires a list, got {type(body).__name__}")
        if len(body) < 2:
            raise ValueError(f"{op} requires at least 2 ranks, got {len(body)}")
        return functools.reduce(combine, [Rank.from_dict(r) for r in body])

    return parse


def _val(op: str, value: Any) -> Rank:
    if not isinstance(value, (int, float)):
        raise TypeError(f"$val requires a number, got {type(value).__name__}")
    return Val(value)


def _knn(op: str, body: Any) -> Rank:
    if not isinstance(body, dict):
        raise TypeError(f"$knn requires a dict, got {type(body).__name__}")
    if "query" not in body:
        raise ValueError("$knn requires 'query' field")
    query = body["query"]
    if isinstance(query, dict):
        query = sparse_vector_from_dict(query)
    elif isinstance(query, (list, tuple, np.ndarray)):
        query = _dense_query(query)
    else:
        raise TypeError(
            f"$knn query must be a list, numpy array, or SparseVector dict, got {type(query).__name__}"
        )
    key = body.get("key", "#embedding")
    if not isinstance(key, str):
        raise TypeError(f"$knn key must be a string, got {type(key).__name__}")
    limit = body.get("limit", 16)
    if not isinstance(limit, int):
        raise TypeError(f"$knn limit must be an integer, got {type(limit).__name__}")
    if limit <= 0:
        raise ValueError(f"$knn limit must be positive, got {limit}")
    return_rank = body.get("return_rank", False)
    if not isinstance(return_rank, bool):
        raise TypeError(f"$knn return_rank must be a boolean, got {type(return_rank).__name__}")
    return Knn(query=query, key=key, limit=limit, default=body.get("default"), return_rank=return_rank)


def _dense_query(query: Any) -> np.ndarray:
    """Chroma's ``normalize_embeddings`` + ``validate_embeddings`` for exactly one vector."""
    rows = v.normalize_embeddings(query, matrix=True)
    if len(rows) != 1:
        raise ValueError("$knn requires exactly one query embedding")
    v.check_embedding_rows(rows)
    return rows[0]


_FROM_OPERATOR: Dict[str, Callable[[str, Any], Rank]] = {
    "$val": _val,
    "$knn": _knn,
    "$sum": _fold(lambda a, b: a + b),
    "$sub": _pair(lambda a, b: a - b),
    "$mul": _fold(lambda a, b: a * b),
    "$div": _pair(lambda a, b: a / b),
    "$abs": _unary(abs),
    "$exp": _unary(lambda r: r.exp()),
    "$log": _unary(lambda r: r.log()),
    "$max": _fold(lambda a, b: a.max(b)),
    "$min": _fold(lambda a, b: a.min(b)),
}


# -- sparse query vectors ----------------------------------------------------------------------


def _is_sparse_object(value: Any) -> bool:
    """A ``SparseVector`` (chroma-frame's, or another library's of that name, e.g. chromadb's)."""
    return isinstance(value, SparseVector) or (type(value).__name__ == "SparseVector" and hasattr(value, "to_dict"))


def sparse_vector_from_dict(data: Dict[str, Any]) -> SparseVector:
    """A validated ``SparseVector`` from its wire dict (``#type`` required, as in Chroma)."""
    if data.get(SPARSE_TYPE_KEY) != SPARSE_TYPE_VALUE:
        raise ValueError(f"Expected dict with {SPARSE_TYPE_KEY}='{SPARSE_TYPE_VALUE}', got {data}")
    return SparseVector.from_dict(data)

