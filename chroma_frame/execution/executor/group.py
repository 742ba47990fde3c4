"""``GroupBy``: keep ``k`` records per group of equal metadata values (Chroma's RankedGroupBy).

Records are grouped by the tuple of their values for the group keys (a missing key is None,
and those records form one group); within a group, ``MinK`` keeps the k smallest by the
aggregate keys, ``MaxK`` the k largest (stable: ties keep score order). ``#score`` is the score.
Values compare as Chroma's metadata values do: None < bool < int < float < str < sparse vector,
and an int never equals a float.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from chroma_frame.execution.executor.payload import GroupSpec

_TYPE_ORDER = ((bool, 0), (int, 1), (float, 2), (str, 3))
SCORE_KEY = "#score"


def group_records(spec: GroupSpec, metadatas: Sequence[Any], scores: np.ndarray) -> np.ndarray:
    """Indexes (into the score-sorted records) that the aggregate keeps, in their input order."""
    groups: dict[tuple, list[int]] = {}
    for i, metadata in enumerate(metadatas):
        key = tuple(_value(metadata, name, scores[i]) for name in spec.keys)
        groups.setdefault(key, []).append(i)
    kept: list[int] = []
    for members in groups.values():
        ordered = sorted(members, key=lambda i: tuple(_value(metadatas[i], name, scores[i])
                                                      for name in spec.aggregate_keys),
                         reverse=spec.descending)
        kept.extend(ordered[: spec.k])
    return np.sort(np.asarray(kept, dtype=np.int64))


def _value(metadata: Any, name: str, score: Any) -> tuple:
    """A sortable, hashable form of one key's value (``(0,)`` when absent)."""
    if name == SCORE_KEY:
        return (1, 2, float(score))
    if name.startswith("#") or not metadata or name not in metadata:
        return (0,)
    return (1, *_typed(metadata[name]))


def _typed(value: Any) -> tuple:
    for kind, order in _TYPE_ORDER:
        if isinstance(value, kind):
            return (order, value)
    if isinstance(value, list):
        return (5, tuple(_typed(v) for v in value))
    return (4, repr(value))  # a sparse vector: groups by equality only
