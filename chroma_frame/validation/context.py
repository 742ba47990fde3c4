"""``validation_context``: Chroma's ``" in {op}."`` suffix on Python-side validation errors."""

from __future__ import annotations

from types import TracebackType
from typing import Optional

from chroma_frame.errors import ChromaError, DuplicateIDError


class validation_context:  # noqa: N801 - used as a function: ``with validation_context(op):``
    """Append ``" in {op}."`` to Python-side validation errors, keeping their class.

    Like Chroma's decorator this rewrites every non-Chroma exception (Chroma's validators
    also leak ``AttributeError``/``KeyError``/``IndexError`` on odd inputs) and
    ``DuplicateIDError``; other ``ChromaError``s pass through untouched. A class rather than a
    ``contextlib.contextmanager``: it runs on every verb, and a generator costs a microsecond more.
    """

    __slots__ = ("op",)

    def __init__(self, op: str) -> None:
        self.op = op

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Optional[type[BaseException]], e: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        if isinstance(e, Exception) and (not isinstance(e, ChromaError) or isinstance(e, DuplicateIDError)):
            e.args = (f"{e} in {self.op}.",) + e.args[1:] if e.args else ()
