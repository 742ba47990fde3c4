"""Collection methods that speak Arrow, Polars and pandas (mixed into Collection)."""

from __future__ import annotations


class FrameMethods:
    """``to_arrow`` / ``to_polars`` / ``to_pandas`` / ``scan`` / ``ingest`` for Collection."""
