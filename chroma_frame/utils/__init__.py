"""Chroma's ``chromadb.utils`` import path (``chroma_frame.utils.embedding_functions``)."""

from __future__ import annotations

import importlib
from typing import Type, TypeVar, cast

C = TypeVar("C")


def get_class(fqn: str, type: Type[C]) -> Type[C]:
    """Given a fully qualified class name, import the module and return the class."""
    module_name, class_name = fqn.rsplit(".", 1)
    return cast(Type[C], getattr(importlib.import_module(module_name), class_name))
