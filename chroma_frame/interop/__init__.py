"""Arrow, Polars, pandas and DuckDB SQL surfaces over collections."""
