"""Typed filters answered in numpy from per-column sorted indexes, at a cost that follows the answer.

For each typed metadata column of a segment (``storage.typed``) a :class:`ColumnIndex` holds the
values as numbers (strings as codes of their distinct values, booleans as 0/1), which rows have
one, and the rows sorted by value (ties in row order). A leaf (``shard == 3``, ``year >= 2016``,
``$in``) is then one or a few slices of the sorted rows, counted exactly with two binary searches;
an ``$and`` takes its smallest child's rows and tests the other children on just those rows;
a filter passing a large share of a segment is tested on every row with one vectorised pass.

The semantics are those of ``filters.typed`` (which DuckDB runs): operands cast by
:func:`~chroma_frame.filters.typed.operand`, a missing value never matches a positive test, and a
negative one is the complement of its positive. A document ``$contains`` / ``$not_contains`` is
a case-sensitive substring test (``filters.compile``: DuckDB's ``contains``), run on the rows the
other conditions of its ``$and`` left, so ``{"shard": 3}`` with a document condition reads 5% of
the documents (a document condition alone goes to DuckDB). What this path does not cover
(``$regex``, keys on the long form, floats holding NaN, an operand of no scalar type) answers
None and DuckDB runs the filter.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any, Optional, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chroma_frame.engine.word_index import word_index
from chroma_frame.filters.ast import And, ArrayContains, Compare, DocumentMatch, InSet, Node, Or, is_negative, positive
from chroma_frame.filters.typed import operand, typed_ok
from chroma_frame.storage.typed import TypedColumn, typed_columns

MASK_SHARE = 1 / 16  # a filter passing more than this share of a segment is tested on every row
_SCALARS = (bool, int, float, str)


class _Fallback(Exception):
    """The filter needs DuckDB (a case this path does not evaluate)."""


@dataclass(frozen=True)
class ColumnIndex:
    """One typed column as numbers, with its non-null rows sorted by value."""

    kind: str  # "str" | "int" | "float" | "bool"
    values: np.ndarray  # int64 (str codes, bool 0/1, int) or float64; anything where null
    valid: np.ndarray  # bool: the row has a value
    order: np.ndarray  # rows with a value, by value (stable)
    keys: np.ndarray  # values[order]
    codes: Optional[dict]  # str -> code, for str columns

    def number(self, value: Any) -> Optional[Any]:
        """The operand as this column's numbers compare with it, or None: matches nothing."""
        if type(value) not in _SCALARS:
            raise _Fallback
        cast = operand(value, self.kind)
        if cast is None:
            return None
        if self.kind == "str":
            return self.codes.get(cast, -1) if self.codes is not None else -1
        if self.kind == "float" and cast != cast:  # NaN: DuckDB orders it, numpy does not
            raise _Fallback
        return int(cast) if self.kind != "float" else float(cast)


def column_index(column: TypedColumn) -> Optional[ColumnIndex]:
    """The index of a typed column; None when numpy cannot follow DuckDB on it (NaN floats)."""
    array = column.values
    valid = np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    codes = None
    if column.kind == "str":
        encoded = pc.dictionary_encode(array)
        codes = {text: code for code, text in enumerate(encoded.dictionary.to_pylist())}
        values = np.asarray(encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
    elif column.kind == "float":
        values = np.asarray(array.fill_null(0.0).to_numpy(zero_copy_only=False), dtype=np.float64)
        if np.isnan(values).any():
            return None
    else:
        values = np.asarray(array.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
    rows = np.flatnonzero(valid)
    present = values[rows]
    if column.kind != "float" and len(present) and int(present.max()) - int(present.min()) < 1 << 16:
        present = (present - present.min()).astype(np.uint16)  # numpy's stable sort is a radix sort here
    order = rows[np.argsort(present, kind="stable")]
    return ColumnIndex(column.kind, values, valid, order, values[order], codes)


class SegmentIndex:
    """The column indexes of one segment's typed columns, made on first use of each key."""

    def __init__(self, columns: dict[str, TypedColumn], long_form: frozenset, rows: int,
                 documents: Optional[pa.ChunkedArray] = None, table: Optional[pa.Table] = None) -> None:
        self.columns, self.long_form, self.rows, self.documents = columns, long_form, rows, documents
        self._indexes: dict[str, Optional[ColumnIndex]] = {}
        self._lock = threading.Lock()
        self._table = weakref.ref(table) if table is not None else None
        self._found: dict[str, Optional[np.ndarray]] = {}  # pattern -> candidate rows (word index)

    def _candidates(self, pattern: str) -> Optional[np.ndarray]:
        """Rows that may contain ``pattern`` by the word index; None while it is being made (the
        first call asks for it) or when it cannot narrow the pattern."""
        if pattern in self._found:
            return self._found[pattern]
        table = self._table() if self._table is not None else None
        words = word_index(table) if table is not None else None
        if words is None:
            return None
        found = words.candidates(pattern)
        with self._lock:
            self._found[pattern] = found
            if len(self._found) > 64:
                self._found.pop(next(iter(self._found)))
        return found

    def index(self, key: str) -> Optional[ColumnIndex]:
        """The key's index; None when the segment has no value for it (absent key)."""
        if key in self.long_form and key not in self.columns:
            raise _Fallback
        if key not in self.columns:
            return None
        if key not in self._indexes:
            with self._lock:
                if key not in self._indexes:
                    self._indexes[key] = column_index(self.columns[key])
        found = self._indexes[key]
        if found is None:
            raise _Fallback
        return found

    def covers(self, node: Node) -> bool:
        """Whether ``node`` reads only typed or absent keys, and the document only by substring:
        within an ``$and`` with a metadata condition, or with the word index narrowing every
        pattern (else DuckDB's parallel scan of every document is faster)."""
        if not self._covers(node):
            return False
        if not _reads_document(node) or (isinstance(node, And)
                                         and not all(_reads_document(c) for c in node.children)):
            return True
        candidates = [self._candidates(pattern) for pattern in _patterns(node)]  # asks for every index
        return all(found is not None for found in candidates)

    def _covers(self, node: Node) -> bool:
        if isinstance(node, (And, Or)):
            return all(self._covers(c) for c in node.children)
        if isinstance(node, DocumentMatch):
            return positive(node.op) == "$contains" and self.documents is not None
        return typed_ok(node, cast(Any, self.columns), self.long_form)  # it only looks keys up

    def _contains(self, node: DocumentMatch, rows: Optional[np.ndarray]) -> np.ndarray:
        """Whether each of ``rows`` (None: every row) has a document holding the pattern
        (case-sensitive substring; no document: no); every row is read only without a word index."""
        candidates = self._candidates(node.pattern) if rows is None else None
        if candidates is not None:
            hit = np.zeros(self.rows, dtype=bool)
            hit[candidates[self._contains(node, candidates)]] = True
            return hit
        documents = cast(pa.ChunkedArray, self.documents)
        if rows is not None:
            documents = documents.take(pa.array(rows, pa.int64()))
        found = pc.match_substring(documents, node.pattern).fill_null(False)
        return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)

    # -- counting, evaluating, testing ---------------------------------------------------------
    def _ranges(self, node: Compare | InSet) -> tuple[Optional[ColumnIndex], list[tuple[int, int]]]:
        """Slices of ``order`` holding the rows where the positive form of ``node`` holds."""
        index = self.index(node.key)
        if index is None:
            return None, []
        op = positive(node.op)
        values = [node.value] if isinstance(node, Compare) else list(node.values)
        numbers = [v for v in (index.number(value) for value in values) if v is not None]
        keys, out = index.keys, []
        for number in numbers:
            if op in ("$eq", "$in"):
                out.append((np.searchsorted(keys, number, "left"), np.searchsorted(keys, number, "right")))
            elif op in ("$gt", "$gte"):
                out.append((np.searchsorted(keys, number, "right" if op == "$gt" else "left"), len(keys)))
            else:
                out.append((0, np.searchsorted(keys, number, "left" if op == "$lt" else "right")))
        if op == "$in":  # a value given twice is one slice
            out = sorted(set(out))
        return index, [(int(a), int(b)) for a, b in out if b > a]

    def count(self, node: Node) -> int:
        """How many rows match ``node`` (exact for leaves, a bound for ``$and`` / ``$or``)."""
        if isinstance(node, And):
            return min(self.count(c) for c in node.children)
        if isinstance(node, Or):
            return min(self.rows, sum(self.count(c) for c in node.children))
        if isinstance(node, DocumentMatch):  # the word index's candidates bound it, if made
            found = self._candidates(node.pattern) if positive(node.op) == "$contains" else None
            hits = self.rows if found is None else len(found)
            return self.rows if is_negative(node.op) else hits
        hits = 0 if isinstance(node, ArrayContains) else sum(b - a for a, b in self._ranges(node)[1])
        return self.rows - hits if is_negative(node.op) else hits

    def matches(self, node: Node, count: Optional[int] = None) -> np.ndarray:
        """Sorted rows of the segment matching ``node`` (``count``: its :meth:`count`, if known)."""
        counts = [self.count(c) for c in node.children] if isinstance(node, And) else []
        if (min(counts) if counts else self.count(node) if count is None else count) > MASK_SHARE * self.rows:
            return np.flatnonzero(self.test(node, None))
        if isinstance(node, And):
            first = node.children[int(np.argmin(counts))]
            rows = self.matches(first, min(counts))
            rest = [c for c in node.children if c is not first]
            return rows[self.test(And(tuple(rest)), rows)] if rest and len(rows) else rows
        if isinstance(node, Or):
            parts = [self.matches(c) for c in node.children]
            return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
        if isinstance(node, (ArrayContains, DocumentMatch)) or is_negative(node.op):
            return np.flatnonzero(self.test(node, None))
        index, ranges = self._ranges(node)
        if index is None or not ranges:
            return np.zeros(0, np.int64)
        picked = np.concatenate([index.order[a:b] for a, b in ranges])
        single_value = len(ranges) == 1 and positive(node.op) in ("$eq", "$in")
        return picked if single_value else np.sort(picked)  # equal values lie in row order

    def test(self, node: Node, rows: Optional[np.ndarray]) -> np.ndarray:
        """Whether each of ``rows`` (None: every row) matches ``node``."""
        size = self.rows if rows is None else len(rows)
        if isinstance(node, (And, Or)):
            combine = np.logical_and if isinstance(node, And) else np.logical_or
            out = self.test(node.children[0], rows)
            for child in node.children[1:]:
                combine(out, self.test(child, rows), out=out)
            return out
        if isinstance(node, DocumentMatch):
            hit = self._contains(node, rows)
            return ~hit if is_negative(node.op) else hit
        hit = np.zeros(size, dtype=bool)
        if isinstance(node, ArrayContains):  # typed columns hold no lists
            return ~hit if is_negative(node.op) else hit
        index = self.index(node.key)
        if index is not None:
            values = index.values if rows is None else index.values[rows]
            op = positive(node.op)
            given = [node.value] if isinstance(node, Compare) else list(node.values)
            numbers = [v for v in (index.number(value) for value in given) if v is not None]
            if numbers:
                if op in ("$eq", "$in"):
                    hit = np.isin(values, numbers) if len(numbers) > 1 else values == numbers[0]
                else:
                    hit = _COMPARE[op](values, numbers[0])
                hit &= index.valid if rows is None else index.valid[rows]
        return ~hit if is_negative(node.op) else hit


def _patterns(node: Node) -> list[str]:
    if isinstance(node, (And, Or)):
        return [p for c in node.children for p in _patterns(c)]
    return [node.pattern] if isinstance(node, DocumentMatch) else []


def _reads_document(node: Node) -> bool:
    if isinstance(node, (And, Or)):
        return any(_reads_document(c) for c in node.children)
    return isinstance(node, DocumentMatch)


_COMPARE = {"$gt": np.greater, "$gte": np.greater_equal, "$lt": np.less, "$lte": np.less_equal}

_segments: dict[int, SegmentIndex] = {}  # id(Arrow table) -> its index; entries leave when it is freed
_segments_lock = threading.Lock()


def segment_index(seg: Any) -> SegmentIndex:  # a snapshot Segment
    """The index of a segment's typed columns (stored with its blockfile, or derived), made once
    per Arrow table."""
    table = seg.table
    found = _segments.get(id(table))
    if found is None:
        with _segments_lock:
            found = _segments.get(id(table))
            if found is None:
                columns, others = seg.typed if seg.typed is not None else typed_columns(table.column("metadata"))
                found = _segments[id(table)] = SegmentIndex(columns, others, table.num_rows,
                                                            table.column("document"), table)
                weakref.finalize(table, _segments.pop, id(table), None)
    return found


def _indexes(snap: Any, node: Node) -> list[tuple[Any, SegmentIndex]]:
    """The segments with rows and their indexes; _Fallback when a key of ``node`` is on the long
    form in one of them, or ``node`` reads the document."""
    out = [(seg, segment_index(seg)) for seg in snap.segments if seg.table.num_rows]
    if not all([index.covers(node) for _, index in out]):  # every segment asks for what it lacks
        raise _Fallback
    return out


def estimate(snap: Any, node: Node) -> Optional[int]:
    """An upper bound of the rows (live or not) matching ``node``; None when DuckDB must answer."""
    try:
        return sum(index.count(node) for _, index in _indexes(snap, node))
    except _Fallback:
        return None


def typed_matches(snap: Any, node: Node) -> Optional[np.ndarray]:
    """Sorted positions of the rows (live or not) matching ``node``; None when DuckDB must answer."""
    try:
        parts = [index.matches(node) + seg.start for seg, index in _indexes(snap, node)]
    except _Fallback:
        return None
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


__all__ = ["ColumnIndex", "MASK_SHARE", "SegmentIndex", "column_index", "estimate", "segment_index", "typed_matches"]
