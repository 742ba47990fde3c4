"""Placeholder: the Ray Datasource over a collection's blockfiles (being built)."""

from __future__ import annotations

from typing import Any


def read(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("chroma_frame.ray.read is being built")
