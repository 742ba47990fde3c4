"""Ingest sources as a stream of Arrow tables of a bounded size.

Accepted: pyarrow Table / RecordBatch / RecordBatchReader / Dataset, Polars DataFrame / LazyFrame,
pandas DataFrame, a Parquet path, directory or glob (or a list of them), and any object with
``__arrow_c_stream__``. Polars and pandas are never imported here: objects are recognised by
their module.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import Any, Callable, Generator, Iterable, Iterator, Sequence

import pyarrow as pa


@dataclass
class Source:
    """Column names, row count when known, and ``open(columns, batch_size)`` -> tables."""

    names: list[str]
    total: int | None
    open: Callable[[Sequence[str], int], Iterator[pa.Table]]
    kind: str


def _module(obj: Any) -> str:
    return type(obj).__module__.split(".", 1)[0]


def open_source(source: Any) -> Source:
    if isinstance(source, pa.RecordBatch):
        source = pa.Table.from_batches([source])
    if isinstance(source, pa.Table):
        return _table_source(source, "pyarrow.Table")
    if isinstance(source, pa.RecordBatchReader):
        return _reader_source(source, "pyarrow.RecordBatchReader")
    if isinstance(source, (str, os.PathLike)) or (isinstance(source, (list, tuple)) and source
                                                   and all(isinstance(s, (str, os.PathLike)) for s in source)):
        return _parquet_source(_parquet_files(source))
    mod, name = _module(source), type(source).__name__
    if mod == "pyarrow" and hasattr(source, "to_batches") and hasattr(source, "count_rows"):
        return _dataset_source(source, "pyarrow.dataset")
    if mod == "polars" and name == "DataFrame":
        return _table_source(source.to_arrow(), "polars.DataFrame")
    if mod == "polars" and name == "LazyFrame":
        return _lazy_source(source)
    if mod == "pandas" and name == "DataFrame":
        return _pandas_source(source)
    if hasattr(source, "__arrow_c_stream__"):
        return _reader_source(pa.RecordBatchReader.from_stream(source), name)
    raise TypeError(
        "ingest expects a pyarrow Table, RecordBatchReader or Dataset, a Polars DataFrame or LazyFrame, "
        f"a pandas DataFrame, or a Parquet path or glob; got {name}"
    )


def rebatch(tables: Iterable[pa.Table | pa.RecordBatch], size: int) -> Iterator[pa.Table]:
    """Tables of exactly ``size`` rows (the last one shorter), holding at most ~2 batches."""
    pending: list[pa.Table] = []
    held = 0
    for t in tables:
        if isinstance(t, pa.RecordBatch):
            t = pa.Table.from_batches([t])
        if t.num_rows == 0:
            continue
        pending.append(t)
        held += t.num_rows
        while held >= size:
            whole = pa.concat_tables(pending) if len(pending) > 1 else pending[0]
            yield whole.slice(0, size)
            rest = whole.slice(size)
            pending, held = ([rest] if rest.num_rows else []), rest.num_rows
    if held:
        yield pa.concat_tables(pending) if len(pending) > 1 else pending[0]


def read_ahead(tables: Iterator[pa.Table]) -> Generator[pa.Table, None, None]:
    """``tables``, each read by a thread while the one before it is used.

    Decoding Parquet releases the GIL, so the next batch is read while this one is validated and
    written. An error of the source is raised where the consumer takes the table it replaces;
    closing the generator waits for the read in flight and ends the thread (nothing outlives it).
    """
    from concurrent.futures import ThreadPoolExecutor

    end = object()
    with ThreadPoolExecutor(1, thread_name_prefix="chroma-frame-ingest-read") as reader:
        ahead = reader.submit(next, tables, end)
        while (table := ahead.result()) is not end:
            ahead = reader.submit(next, tables, end)
            yield table


def _table_source(table: pa.Table, kind: str) -> Source:
    def open_(columns: Sequence[str], size: int) -> Iterator[pa.Table]:
        t = table.select(list(columns))
        for start in range(0, t.num_rows, size):
            yield t.slice(start, size)

    return Source(table.column_names, table.num_rows, open_, kind)


def _reader_source(reader: pa.RecordBatchReader, kind: str) -> Source:
    def open_(columns: Sequence[str], size: int) -> Iterator[pa.Table]:
        return rebatch((b.select(list(columns)) for b in reader), size)

    return Source(reader.schema.names, None, open_, kind)


def _parquet_files(source: Any) -> list[str]:
    paths = [os.fspath(s) for s in (source if isinstance(source, (list, tuple)) else [source])]
    files: list[str] = []
    for p in paths:
        if glob.has_magic(p):
            matched = sorted(glob.glob(p, recursive=True))
            if not matched:
                raise FileNotFoundError(f"no file matches {p}")
            files += matched
        elif os.path.isdir(p):
            files += sorted(glob.glob(os.path.join(p, "**", "*.parquet"), recursive=True))
        else:
            if not os.path.exists(p):
                raise FileNotFoundError(p)
            files.append(p)
    if not files:
        raise FileNotFoundError(f"no Parquet file in {source}")
    return files


def _parquet_source(files: list[str]) -> Source:
    """Parquet files read with ``ParquetFile.iter_batches`` (no pyarrow.dataset: it imports pandas)."""
    import pyarrow.parquet as pq

    first = pq.ParquetFile(files[0])
    total = first.metadata.num_rows + sum(pq.ParquetFile(f).metadata.num_rows for f in files[1:])

    def open_(columns: Sequence[str], size: int) -> Iterator[pa.Table]:
        def batches() -> Iterator[pa.RecordBatch]:
            for f in files:
                # pre_buffer=False: pre-buffering keeps every row group it read until the file is closed
                with pq.ParquetFile(f, pre_buffer=False) as pf:
                    yield from pf.iter_batches(batch_size=size, columns=list(columns), use_threads=True)

        return rebatch(batches(), size)

    return Source(first.schema_arrow.names, total, open_, "parquet")


def _dataset_source(dataset, kind: str) -> Source:
    def open_(columns: Sequence[str], size: int) -> Iterator[pa.Table]:
        batches = dataset.to_batches(columns=list(columns), batch_size=size, batch_readahead=2, fragment_readahead=1)
        return rebatch(batches, size)

    return Source(dataset.schema.names, dataset.count_rows(), open_, kind)


def _lazy_source(lf) -> Source:
    def open_(columns: Sequence[str], size: int) -> Iterator[pa.Table]:
        batches = lf.select(list(columns)).collect_batches(chunk_size=size)
        return rebatch((df.to_arrow() for df in batches), size)

    return Source(lf.collect_schema().names(), None, open_, "polars.LazyFrame")


def _pandas_source(df) -> Source:
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        raise ValueError("ingest: the pandas DataFrame has duplicate column names")

    def open_(columns: Sequence[str], size: int) -> Iterator[pa.Table]:
        part = df.set_axis(names, axis=1)[list(columns)]
        for start in range(0, len(part), size):
            yield pa.Table.from_pandas(part.iloc[start : start + size], preserve_index=False)

    return Source(names, len(df), open_, "pandas.DataFrame")
