"""Formatting shared by the benchmarks' Markdown tables."""

from __future__ import annotations


def fmt(v, digits: int = 2) -> str:
    """A figure for a table cell: "—" when missing or NaN, thousands separated, fewer decimals when large."""
    if v is None or v != v:
        return "—"
    if isinstance(v, str):
        return v
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.{digits}f}"
