"""A snapshot's columns built chunk by chunk, filtered first: the engine of ``scan()`` and SQL views.

Per chunk of positions: build the columns a filter needs (``probe``), keep the rows it accepts,
then build the other requested columns for those rows only. Columns nobody asked for (embeddings,
typically) are never built, and ``n_rows`` stops the stream early.
"""

from __future__ import annotations

from typing import Callable, Iterator, Optional, Sequence

import numpy as np
import pyarrow as pa

from chroma_frame.engine.snapshot import Snapshot
from chroma_frame.interop import table as tb

Keep = Callable[[pa.Table], np.ndarray]  # probe columns of a chunk -> indices of the rows to keep


def stream(snap: Snapshot, lay: tb.Layout, positions: np.ndarray, columns: Sequence[str], *,
           probe: Sequence[str] = (), keep: Optional[Keep] = None, n_rows: Optional[int] = None,
           first: int = 2048, largest: int = 65_536) -> Iterator[pa.Table]:
    """Tables of ``columns`` for the records at ``positions``, in that order.

    ``keep`` (with the ``probe`` columns it reads) filters each chunk before the rest is built.
    Chunks hold ``first`` positions, then double up to ``largest``: a query that stops early
    (a LIMIT) builds little, a full scan pays the per-chunk cost a few times only.
    """
    columns = list(columns)
    if not columns:
        raise ValueError("stream: no columns")
    probe = (list(dict.fromkeys(probe)) or columns[:1]) if keep is not None else []  # a probe has rows
    rest = [c for c in columns if c not in probe]
    produced, start, size = 0, 0, max(1, first)
    while start < len(positions) and (n_rows is None or produced < n_rows):
        chunk = positions[start : start + size]
        start, size = start + size, min(size * 2, max(largest, first))
        part = None
        if keep is not None:
            part = tb.build(snap, chunk, probe, lay)
            picked = keep(part)
            chunk, part = chunk[picked], part.take(pa.array(picked, pa.int64()))
        if n_rows is not None and len(chunk) > n_rows - produced:
            chunk = chunk[: n_rows - produced]
            part = part.slice(0, len(chunk)) if part is not None else None
        if len(chunk) == 0:
            continue
        produced += len(chunk)
        built = tb.build(snap, chunk, rest, lay)
        yield built if part is None else _assemble(columns, part, built)


def _assemble(columns: list[str], part: pa.Table, built: pa.Table) -> pa.Table:
    arrays = {name: part.column(name) for name in part.column_names}
    arrays.update({name: built.column(name) for name in built.column_names})
    return pa.table({name: arrays[name] for name in columns})
