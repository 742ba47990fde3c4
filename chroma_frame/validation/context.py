"""``validation_context``: Chroma's ``" in {op}."`` suffix on Python-side validation errors."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from chroma_frame.errors import ChromaError, DuplicateIDError


@contextmanager
def validation_context(op: str) -> Iterator[None]:
    """Append ``" in {op}."`` to Python-side validation errors, keeping their class.

    Like Chroma's decorator this rewrites every non-Chroma exception (Chroma's validators
    also leak ``AttributeError``/``KeyError``/``IndexError`` on odd inputs) and
    ``DuplicateIDError``; other ``ChromaError``s pass through untouched.
    """
    try:
        yield
    except Exception as e:
        if isinstance(e, ChromaError) and not isinstance(e, DuplicateIDError):
            raise
        e.args = (f"{e} in {op}.",) + e.args[1:] if e.args else ()
        raise
