"""A small HTML table for Jupyter (``_repr_html_``), in the spirit of Polars' frame display."""

from __future__ import annotations

import html
from typing import Any

import pyarrow as pa

_MAX_TEXT = 60


def short_type(t: pa.DataType) -> str:
    if pa.types.is_fixed_size_list(t):
        return f"{short_type(t.value_type)}[{t.list_size}]"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"list[{short_type(t.value_type)}]"
    names = {"string": "str", "large_string": "str", "float": "f32", "double": "f64", "int64": "i64",
             "int32": "i32", "bool": "bool", "int8": "i8"}
    return names.get(str(t), str(t))


def _cell(value: Any) -> str:
    if value is None:
        return '<span style="color:#999">null</span>'
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        shown = ", ".join(_plain(x) for x in value[:4])
        more = f", … ({len(value)})" if len(value) > 4 else ""
        return html.escape(f"[{shown}{more}]")
    text = str(value)
    if len(text) > _MAX_TEXT:
        text = text[: _MAX_TEXT - 1] + "…"
    return html.escape(text)


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return repr(value) if isinstance(value, str) else str(value)


def table_html(table: pa.Table, *, title: str, total: int | None = None, max_rows: int = 10) -> str:
    """``title``, then the first ``max_rows`` rows of ``table`` (``total`` rows in all)."""
    total = table.num_rows if total is None else total
    head = table.slice(0, max_rows).to_pylist()
    cols = table.column_names
    th = "".join(f"<th>{html.escape(c)}<br><small style='color:#888'>"
                 f"{html.escape(short_type(table.schema.field(c).type))}</small></th>" for c in cols)
    rows = "".join("<tr>" + "".join(f"<td>{_cell(r[c])}</td>" for c in cols) + "</tr>" for r in head)
    if total > len(head):
        rows += f"<tr><td colspan='{len(cols)}' style='color:#888'>… {total - len(head):,} more rows</td></tr>"
    return (f"<div><small>{html.escape(title)}</small>"
            f"<table border='1' class='dataframe'><thead><tr>{th}</tr></thead><tbody>{rows}</tbody></table></div>")
