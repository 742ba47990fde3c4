"""Shared checks of the expressions' ``from_dict`` (chromadb's messages)."""

from __future__ import annotations

from typing import Any, Dict, Tuple, TypeVar

T = TypeVar("T")


def expect_dict(data: Any, what: str) -> None:
    """``data`` must be a non-empty dict."""
    if not isinstance(data, dict):
        raise TypeError(f"Expected dict for {what}, got {type(data).__name__}")
    if not data:
        raise ValueError(f"{what} dict cannot be empty")


def one_operator(data: Any, what: str, table: Dict[str, T]) -> Tuple[str, Any, T]:
    """(operator, operand, ``table[operator]``) of ``{"$op": operand}``."""
    expect_dict(data, what)
    if len(data) != 1:
        raise ValueError(f"{what} dict must contain exactly one operator, got {len(data)}")
    ((op, body),) = data.items()
    handler = table.get(op)
    if handler is None:
        raise ValueError(f"Unknown {what.lower()} operator: {op}")
    return op, body, handler


def expect_list(value: Any, what: str) -> None:
    """``value`` must be a non-empty list or tuple."""
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{what} must be a list, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{what} cannot be empty")
