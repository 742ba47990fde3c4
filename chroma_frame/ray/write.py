"""Placeholder: the Ray Datasink (being built)."""

from __future__ import annotations

from typing import Any


def write(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("chroma_frame.ray.write is being built")
