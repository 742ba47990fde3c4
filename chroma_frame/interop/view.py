"""A collection snapshot as a lazy pyarrow Dataset: what ``client.sql`` registers as a view.

DuckDB scans a registered ``pyarrow.dataset.Dataset`` by calling ``type(dataset).scanner(dataset,
columns=[...], filter=<pyarrow expression>)`` with the columns the query reads (its filters' columns
included) and the filters it pushed down: ``kind = 'x'``, ``year > 2000``, or the ``id IN (...)`` a
join derives from its other side. :class:`SnapshotView` answers with
:func:`~chroma_frame.interop.stream.stream`: the filter runs on the requested columns other than
``embedding``, then embeddings are built for the rows that pass it, and only when asked for. Rows
come in ``get``'s order. Nothing is read or built until DuckDB consumes the scanner.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds

from chroma_frame.engine.snapshot import Snapshot
from chroma_frame.interop import table as tb
from chroma_frame.interop.stream import Keep, stream

HEAVY = ("embedding",)  # built only for rows that passed the filter


class SnapshotView(ds.InMemoryDataset):
    """The records of one snapshot, with the columns of ``collection.to_arrow()``, read lazily.

    The parent holds an empty table of the right schema, so that pyarrow's own methods stay
    valid; every scan goes through :meth:`scanner`.
    """

    def __init__(self, snap: Snapshot) -> None:
        lay = tb.layout(snap)
        names = lay.default_columns()
        super().__init__(lay.schema(names).empty_table())
        self._snap, self._lay, self._names = snap, lay, names

    def scanner(self, columns: Any = None, filter: Optional[Any] = None, **_options: Any) -> "LazyScan":
        """A scan building ``columns`` (default: all) of the rows matching ``filter`` only."""
        if columns is None:
            columns = self._names
        if not isinstance(columns, (list, tuple)) or not columns or not all(c in self._names for c in columns):
            return self._generic(columns, filter)  # no columns, or expressions: pyarrow does the work
        columns = list(columns)
        keep: Optional[Keep] = None
        probe: Sequence[str] = ()
        if filter is not None:
            probe = [c for c in columns if c not in HEAVY]
            if not _applies(filter, self._lay.schema(probe)):
                probe = columns
                if not _applies(filter, self._lay.schema(probe)):
                    return self._generic(columns, filter)
            keep = _keeper(filter)
        tables = stream(self._snap, self._lay, self._snap.live_positions, columns, probe=probe, keep=keep)
        return LazyScan(self._lay.schema(columns), tables)

    def _generic(self, columns: Any, filter: Optional[Any]) -> "LazyScan":
        full = self._lay.schema(self._names)

        def tables() -> Iterator[pa.Table]:  # every column built; pyarrow projects and filters
            everything = stream(self._snap, self._lay, self._snap.live_positions, self._names)
            reader = pa.RecordBatchReader.from_batches(full, _batches(everything))
            yield ds.Scanner.from_batches(reader, columns=columns, filter=filter).to_table()

        projected = ds.Scanner.from_batches(iter(()), schema=full, columns=columns).projected_schema
        return LazyScan(projected, tables())


class LazyScan:
    """What :meth:`SnapshotView.scanner` returns: the part of ``pyarrow.dataset.Scanner`` that
    DuckDB (``to_reader``) and pyarrow's Dataset methods use.

    Not a real Scanner on purpose: pyarrow's scanner pulls its source from background threads,
    ahead of the consumer, which builds batches a LIMIT never reads and calls Python from threads
    that may outlive the interpreter. A plain reader is pulled by its consumer only.
    """

    def __init__(self, schema: pa.Schema, tables: Iterator[pa.Table]) -> None:
        self.projected_schema = schema
        self._tables = tables

    def to_reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self.projected_schema, _batches(self._tables))

    def to_batches(self) -> Iterator[pa.RecordBatch]:
        return _batches(self._tables)

    def to_table(self) -> pa.Table:
        return self.to_reader().read_all()

    def head(self, num_rows: int) -> pa.Table:
        out, have = [], 0
        for batch in self.to_batches():
            if have >= num_rows:
                break
            out.append(batch.slice(0, num_rows - have))
            have += out[-1].num_rows
        return pa.Table.from_batches(out, schema=self.projected_schema)

    def count_rows(self) -> int:
        return sum(b.num_rows for b in self.to_batches())


def _batches(tables: Iterator[pa.Table]) -> Iterator[pa.RecordBatch]:
    for table in tables:
        yield from table.to_batches()


def _applies(expression: Any, schema: pa.Schema) -> bool:
    """Whether ``expression`` can be evaluated on columns of ``schema`` alone."""
    try:
        schema.empty_table().filter(expression)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, KeyError):
        return False
    return True


def _keeper(expression: Any) -> Keep:
    def keep(part: pa.Table) -> np.ndarray:
        row = "__cf_row"
        while row in part.column_names:
            row += "_"
        numbered = part.append_column(row, pa.array(np.arange(part.num_rows, dtype=np.int64)))
        return numbered.filter(expression).column(row).to_numpy()

    return keep
