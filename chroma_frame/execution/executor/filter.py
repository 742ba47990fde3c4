"""A search ``where`` -> the live snapshot positions it admits.

Id-free subtrees become one ``filters`` AST (parsed leaf by leaf with the ``where`` /
``where_document`` parser, so values are validated as in ``get``) and run as one DuckDB query;
``#id`` conditions are answered from the snapshot's ids; ``&`` / ``|`` of the two intersect or
unite position masks. ``#document`` with ``$contains`` / ``$regex`` (and their negations) is a
document filter; any other key is a metadata key.
"""

from __future__ import annotations

from typing import Any, Optional, Union, cast

import numpy as np

from chroma_frame.engine.collection import CollectionEngine
from chroma_frame.engine.snapshot import Snapshot
from chroma_frame.execution.expression.where import And, Or, Where
from chroma_frame.filters import ast, compile_filter, parse_filter

ID_KEY, DOCUMENT_KEY = "#id", "#document"
_DOCUMENT_OPS = ("$contains", "$not_contains", "$regex", "$not_regex")
_ID_OPS = ("$eq", "$ne", "$in", "$nin")

Part = Union[ast.Node, np.ndarray]  # an AST to compile, or a boolean mask over positions


def filter_positions(snap: Snapshot, where: Optional[Where]) -> Optional[np.ndarray]:
    """Sorted live positions matching ``where``; None when there is no filter (all records)."""
    if where is None:
        return None
    mask = _as_mask(snap, _part(snap, where))
    return np.flatnonzero(mask & snap.live)


def _part(snap: Snapshot, where: Where) -> Part:
    if isinstance(where, (And, Or)):
        parts = [_part(snap, child) for child in where.conditions]
        if all(not isinstance(p, np.ndarray) for p in parts):
            nodes = cast("list[ast.Node]", parts)
            return nodes[0] if len(nodes) == 1 else (ast.And if isinstance(where, And) else ast.Or)(tuple(nodes))
        masks = [_as_mask(snap, p) for p in parts]
        combine = np.logical_and if isinstance(where, And) else np.logical_or
        return combine.reduce(masks)
    ((key, condition),) = where.to_dict().items()  # a leaf: {key: {op: operand}}
    ((op, value),) = condition.items()
    if key == ID_KEY and op in _ID_OPS:
        return _id_mask(snap, op, value)
    if key == DOCUMENT_KEY and op in _DOCUMENT_OPS:
        node = parse_filter(None, {op: value})
    else:
        node = parse_filter({key: {op: value}}, None)
    assert node is not None
    return node


def _id_mask(snap: Snapshot, op: str, value: Any) -> np.ndarray:
    wanted = value if op in ("$in", "$nin") else [value]
    ids = [i for i in wanted if isinstance(i, str)]
    mask = np.zeros(len(snap.live), dtype=bool)
    mask[snap.positions_of(ids)] = True
    return ~mask if op in ("$ne", "$nin") else mask


def _as_mask(snap: Snapshot, part: Part) -> np.ndarray:
    if isinstance(part, np.ndarray):
        return part
    mask = np.zeros(len(snap.live), dtype=bool)
    mask[CollectionEngine.select(snap, None, compile_filter(part))] = True
    return mask
