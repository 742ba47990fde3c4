"""Collection methods that speak Arrow, Polars and pandas (mixed into Collection).

Output columns: ``id, document, uri, <one per metadata key>, embedding`` (``fixed_size_list<float32>``);
metadata key types follow the rule in :mod:`chroma_frame.interop.columns` (docs/dataframes.md).
Polars and pandas are imported only by the methods that return them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Optional, Sequence, cast

import numpy as np
import pyarrow as pa

from chroma_frame import validation as v
from chroma_frame.interop import table as tb
from chroma_frame.interop.stream import stream

if TYPE_CHECKING:
    import pandas
    import polars

    from chroma_frame.collection import Collection
    from chroma_frame.embedder import Embedder
    from chroma_frame.engine.collection import CollectionEngine
    from chroma_frame.engine.snapshot import Snapshot
    from chroma_frame.interop.ingest import IngestSummary

SCAN_BATCH = 50_000


class FrameMethods:
    """``to_arrow`` / ``to_polars`` / ``to_pandas`` / ``scan`` / ``ingest`` / ``export_parquet`` for Collection.

    The mixin's contract: the class provides ``_engine`` (a ``CollectionEngine``) and ``_embedder``
    (an ``Embedder``), plus the public ``name`` / ``metadata`` / ``configuration_json``."""

    # -- what the class mixing this in provides -------------------------------------------
    if TYPE_CHECKING:
        @property
        def name(self) -> str: ...

    @property
    def _engine(self) -> "CollectionEngine":  # pragma: no cover - Collection overrides it
        raise NotImplementedError

    @property
    def _embedder(self) -> "Embedder":  # pragma: no cover - Collection overrides it
        raise NotImplementedError

    # -- out -----------------------------------------------------------------------------
    def to_arrow(self, where: Optional[dict] = None, where_document: Optional[dict] = None,
                 include: Optional[Sequence[str]] = None, columns: Optional[Sequence[str]] = None, *,
                 ids: Any = None, limit: Optional[int] = None, offset: Optional[int] = None,
                 as_of: Any = None) -> pa.Table:
        """The records (filtered like ``get``) as an Arrow table, in ``get``'s order.

        ``include`` takes ``get``'s items (documents, uris, metadatas, embeddings; default: all);
        ``columns`` names output columns instead (``"metadata"`` is the stored long form);
        ``as_of`` reads a past version (see ``versions()``).
        """
        snap = self._engine.at(as_of).snapshot()
        lay = tb.layout(snap)
        names = self._columns(lay, include, columns)
        return tb.build(snap, self._positions(snap, ids, where, where_document, limit, offset), names, lay)

    def to_polars(self, where: Optional[dict] = None, where_document: Optional[dict] = None,
                  include: Optional[Sequence[str]] = None, columns: Optional[Sequence[str]] = None,
                  **kwargs: Any) -> "polars.DataFrame":
        """:meth:`to_arrow` as a Polars DataFrame (``embedding`` is ``Array(Float32, dim)``)."""
        return _polars(self.to_arrow(where, where_document, include, columns, **kwargs))

    def to_pandas(self, where: Optional[dict] = None, where_document: Optional[dict] = None,
                  include: Optional[Sequence[str]] = None, columns: Optional[Sequence[str]] = None, *,
                  ids: Any = None, limit: Optional[int] = None, offset: Optional[int] = None,
                  as_of: Any = None, **to_pandas_kwargs: Any) -> "pandas.DataFrame":
        """:meth:`to_arrow` as a pandas DataFrame (``embedding`` holds float32 numpy arrays).

        Extra keyword arguments go to ``pyarrow.Table.to_pandas`` (e.g. ``types_mapper``).
        """
        table = self.to_arrow(where, where_document, include, columns, ids=ids, limit=limit, offset=offset,
                              as_of=as_of)
        return table.to_pandas(**to_pandas_kwargs)

    def scan(self, batch_size: int = SCAN_BATCH, *, as_of: Any = None) -> "polars.LazyFrame":
        """A Polars LazyFrame over this collection as of now (or as of a past version).

        Projections are pushed down (unused columns, embeddings included, are never built) and so
        are predicates: each batch first builds only the predicate's columns, then the projected
        columns of the matching rows. ``head(n)`` stops reading after ``n`` rows.
        """
        import polars as pl
        from polars.io.plugins import register_io_source

        snap = self._engine.at(as_of).snapshot()
        lay = tb.layout(snap)
        names = lay.default_columns()
        schema = _polars(lay.schema(names).empty_table()).schema
        positions = snap.live_positions

        def source(with_columns, predicate, n_rows, _hint) -> Iterator[pl.DataFrame]:
            keep = None if predicate is None else _polars_keeper(predicate)
            probe = predicate.meta.root_names() if predicate is not None else ()
            tables = stream(snap, lay, positions, with_columns or names, probe=probe, keep=keep, n_rows=n_rows,
                            first=batch_size, largest=batch_size)
            return (_polars(t) for t in tables)

        return register_io_source(source, schema=schema, explain_name=f"chroma_frame[{self.name}]")

    def export_parquet(self, path: str | os.PathLike, where: Optional[dict] = None,
                       where_document: Optional[dict] = None, *, row_group_size: int = 64 * 1024) -> int:
        """Write the records to one Parquet file; returns the number of rows.

        Columns are those of :meth:`to_arrow`; when a metadata key's type varies (so that one
        column per key would lose information) the stored long form ``metadata`` column is
        written instead. ``client.import_parquet`` reads it back exactly.
        """
        from chroma_frame.interop import parquet

        snap = self._engine.snapshot()
        positions = self._positions(snap, None, where, where_document, None, None)
        return parquet.write(cast("Collection", self), snap, positions, path, row_group_size=row_group_size)

    # -- in ------------------------------------------------------------------------------
    def ingest(self, source: Any, mode: str = "add", id_column: str = "id", document_column: Optional[str] = None,
               embedding_column: Optional[str] = None, uri_column: Optional[str] = None,
               metadata_columns: Sequence[str] | Mapping[str, str] | None = None, batch_size: int = 50_000,
               progress: Any = None, skip_rows: int = 0) -> "IngestSummary":
        """Add (or upsert) every row of a table-like source, ``batch_size`` rows per log entry.

        ``source``: pyarrow Table / RecordBatchReader / Dataset, Polars DataFrame / LazyFrame,
        pandas DataFrame, or a Parquet path, directory or glob. Unnamed columns are looked up by
        their conventional names (``document(s)``, ``embedding(s)``, ``uri(s)``); every other
        column is metadata (``metadata_columns`` picks some, a mapping renames them); a null cell
        means the key is absent. Rows without an embedding are embedded from their document.
        ``progress``: None (a bar after 2 s, if tqdm is installed), True, False, or a callable
        ``(rows_done, rows_total_or_None)``; rows count as done once embedded, so it moves while a batch
        embeds. Raises :class:`~chroma_frame.interop.ingest.IngestError`
        (with ``rows_committed``) when a batch fails; earlier batches stay committed.
        """
        from chroma_frame.interop.ingest import run
        from chroma_frame.interop.parquet import ingest_source

        return run(self._engine, self._embedder, ingest_source(source), mode=mode, id_column=id_column,
                   document_column=document_column, embedding_column=embedding_column, uri_column=uri_column,
                   metadata_columns=metadata_columns, batch_size=batch_size, progress=progress, skip_rows=skip_rows)

    # -- display -------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        from chroma_frame.interop.html import table_html

        snap = self._engine.snapshot()
        lay = tb.layout(snap)
        head = tb.build(snap, snap.live_positions[:10], lay.default_columns(), lay)
        title = (f"Collection '{self.name}': {snap.count:,} records, dimension {snap.dimension}, "
                 f"space {self._engine.config.space}")
        return table_html(head, title=title, total=snap.count)

    # -- helpers -------------------------------------------------------------------------
    @staticmethod
    def _columns(lay: tb.Layout, include: Optional[Sequence[str]], columns: Optional[Sequence[str]]) -> list[str]:
        if columns is not None:
            if isinstance(columns, str):
                columns = [columns]
            return lay.check(columns)
        if include is not None:
            if not isinstance(include, (list, tuple)):
                raise ValueError(f"Expected include to be a list, got {include}")
            unknown = [i for i in include if i not in tb.INCLUDE]
            if unknown:
                raise ValueError(f"Expected include items among {', '.join(tb.INCLUDE)}, got {unknown[0]}")
        return lay.default_columns(include)

    def _positions(self, snap: "Snapshot", ids: Any, where: Any, where_document: Any,
                   limit: Optional[int], offset: Optional[int]) -> np.ndarray:
        from chroma_frame.engine.collection import CollectionEngine
        from chroma_frame.filters import compile_filter, parse_filter

        with v.validation_context("get"):
            ids = v.normalize_ids("get", ids)
            node = parse_filter(where, where_document)
        limit, offset = v.check_limit_offset(limit, offset, "get")
        positions = CollectionEngine.select(snap, ids, compile_filter(node))
        return positions[offset : None if limit is None else offset + limit]


def _polars(table: pa.Table) -> "polars.DataFrame":
    """``polars.from_arrow`` of a table: a DataFrame (its signature also allows a Series)."""
    import polars as pl

    return cast("polars.DataFrame", pl.from_arrow(table))


def _polars_keeper(predicate: Any):
    def keep(part: pa.Table) -> np.ndarray:
        mask = _polars(part).select(predicate.fill_null(False)).to_series().to_numpy()
        if len(mask) == 1 and part.num_rows != 1:  # a predicate without columns: one value for all rows
            mask = np.repeat(mask, part.num_rows)
        return np.flatnonzero(mask)

    return keep

