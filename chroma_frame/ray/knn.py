"""Placeholder: batch vector search of a Ray dataset of queries (being built)."""

from __future__ import annotations

from typing import Any


def knn_join(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("chroma_frame.ray.knn_join is being built")
