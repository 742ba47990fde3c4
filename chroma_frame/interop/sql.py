"""``client.sql(...)``: DuckDB SQL over the collections of a database (mixed into Client)."""

from __future__ import annotations


class SQLMethods:
    """``sql`` and ``register`` for Client."""
