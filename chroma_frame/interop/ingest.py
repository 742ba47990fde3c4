"""Bulk ingestion: a table-like source, streamed in batches, each batch one log entry.

``collection.ingest`` -> :func:`run`: open the source (``sources``), pick the columns' roles
(``roles``), then per batch: check and convert (``batch``), embed what has no embedding, and write
one log entry through ``engine.writes``, the path ``add`` and ``upsert`` take. A failure raises
:class:`IngestError` with what is committed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np
import pyarrow as pa

from chroma_frame import validation as v
from chroma_frame.engine.snapshot import Snapshot
from chroma_frame.engine.writes import find_live, plan_add, plan_upsert
from chroma_frame.interop.batch import Batch, Mode, embed_missing, fill_sparse, prepare
from chroma_frame.interop.roles import is_long_form, resolve_roles
from chroma_frame.interop.sources import open_source, read_ahead

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from chroma_frame.embedder import Embedder
    from chroma_frame.engine.collection import CollectionEngine

DEFAULT_BATCH_SIZE = 50_000


@dataclass(frozen=True)
class IngestSummary:
    """What an ingest did."""

    mode: str
    rows_read: int  # source rows consumed
    rows_written: int  # records inserted or updated
    rows_skipped: int  # add: ids that already existed (ignored, as add does)
    rows_embedded: int  # embeddings computed from documents
    batches: int  # log entries written
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else float("inf")

    def __repr__(self) -> str:
        return (f"IngestSummary(mode={self.mode!r}, rows_read={self.rows_read}, rows_written={self.rows_written}, "
                f"rows_skipped={self.rows_skipped}, rows_embedded={self.rows_embedded}, batches={self.batches}, "
                f"seconds={self.seconds:.3f}, rows_per_second={self.rows_per_second:,.0f})")


class IngestError(RuntimeError):
    """An ingest stopped; the batches before the failing one are committed.

    ``rows_committed`` source rows (``batches_committed`` batches) are in the collection; rerun
    with ``skip_rows=rows_committed`` to resume, or rerun with ``mode="add"`` (ids already there are
    skipped). ``error`` is the exception that stopped it (also ``__cause__``).
    """

    def __init__(self, error: BaseException, rows_committed: int, rows_written: int, batches_committed: int) -> None:
        self.error = error
        self.rows_committed = rows_committed
        self.rows_written = rows_written
        self.batches_committed = batches_committed
        super().__init__(
            f"ingest stopped after committing {rows_committed} source rows in {batches_committed} batches "
            f"({rows_written} records written); pass skip_rows={rows_committed} to resume. "
            f"{type(error).__name__}: {error}"
        )


class _Progress:
    """The bar or callback of ``progress=``, counting source rows done (embedded, or written)."""

    def __init__(self, progress: Any, total: int | None) -> None:
        self.callback = progress if callable(progress) else None
        self.total, self.done = total, 0
        self.bar = None
        if progress is False or self.callback is not None:
            return
        try:
            import warnings

            with warnings.catch_warnings():  # tqdm.auto warns in Jupyter without ipywidgets
                warnings.simplefilter("ignore")
                from tqdm.auto import tqdm
        except ImportError:
            return
        self.bar = tqdm(total=total, unit="rows", desc="ingest", delay=0 if progress else 2.0, unit_scale=True)

    def advance(self, rows: int) -> None:
        self.reach(self.done + rows)

    def reach(self, done: int) -> None:
        """``done`` rows so far (never fewer than already shown)."""
        step, self.done = max(0, done - self.done), max(done, self.done)
        if self.bar is not None:
            self.bar.update(step)
        if self.callback is not None:
            self.callback(self.done, self.total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(engine: "CollectionEngine", embedder: "Embedder", source: Any, *, mode: str, id_column: str,
        document_column: str | None, embedding_column: str | None, uri_column: str | None, metadata_columns: Any,
        batch_size: int, progress: Any, skip_rows: int) -> IngestSummary:
    if mode not in ("add", "upsert"):
        raise ValueError(f"ingest: mode must be 'add' or 'upsert', got {mode!r}")
    op: Mode = "add" if mode == "add" else "upsert"
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"ingest: batch_size must be a positive int, got {batch_size!r}")
    started = time.perf_counter()
    src = open_source(source)
    roles = resolve_roles(src, id_column, document_column, embedding_column, uri_column, metadata_columns, True)
    total = None if src.total is None else max(0, src.total - skip_rows)
    bar = _Progress(progress, total)
    read = committed = written = skipped = embedded = batches = 0
    snap = None
    tables = read_ahead(src.open(roles.columns, batch_size))
    try:
        for table in _skip(tables, skip_rows):
            if roles.long_metadata is not None and not is_long_form(table.schema.field(roles.long_metadata).type):
                roles.metadata.insert(0, (roles.long_metadata, roles.long_metadata))  # just a key named "metadata"
                roles.long_metadata = None
            read += table.num_rows
            batch = prepare(table, roles, op)
            skip = np.zeros(len(batch), bool)
            needs_embedding = batch.have is None or not batch.have.all()
            if needs_embedding and mode == "add":
                skip = find_live(engine.snapshot(), batch.ids) >= 0  # do not embed what add would drop
            done = [0]  # records written
            if not (skip.all() and batch.embeddings is None):  # else: an add of existing ids, nothing to check
                with v.validation_context(mode):  # as add: embedding errors get the " in add." suffix
                    embedded += embed_missing(batch, embedder.dense, skip, bar.advance)
                    fill_sparse(batch, embedder.sparse_target, skip)
                snap = engine.write(_plan(batch, mode, skip, done), request_graphs=False, bulk=True,
                                    operation=f"ingest:{mode}")
            committed = read
            written += done[0]
            skipped += len(batch) - done[0] if mode == "add" else 0
            batches += 1 if done[0] else 0
            bar.reach(read)
        if written >= engine.store.compaction_threshold_rows:
            snap = _settle(engine) or snap
    except Exception as e:
        raise IngestError(e, skip_rows + committed, written, batches) from e
    finally:
        tables.close()  # stops the reading thread now, not when the traceback is collected
        pa.default_memory_pool().release_unused()  # what the batches used goes back to the system
        bar.close()
        if snap is not None:
            engine.request_graphs(snap)
    return IngestSummary(mode, read, written, skipped, embedded, batches, time.perf_counter() - started)


def _settle(engine: "CollectionEngine") -> Snapshot | None:
    """After a bulk load, merge the blockfiles that are not full (the compactions on the way left
    up to eight): fewer graphs to build and to search. Everything is committed already, so a
    failure here costs only speed: logged, not raised (the next compaction merges them)."""
    try:
        return engine.compact(merge_open=True)
    except Exception as exc:  # noqa: BLE001 - the ingest's rows are durable in the log and blockfiles
        logger.warning("merging the blockfiles after an ingest failed: %s", exc)
        return None


def _plan(batch: Batch, mode: str, skip: np.ndarray, written: list[int]) -> Callable[[Snapshot, int], pa.Table | None]:
    """The write of one batch; ``written[0]`` becomes how many records it wrote."""
    records = batch.records()

    def plan(snap: Snapshot, seq: int) -> pa.Table | None:
        rows = plan_add(snap, seq, records, skip) if mode == "add" else plan_upsert(snap, seq, records)
        written[:] = [0 if rows is None else rows.num_rows]
        return rows

    return plan


def _skip(tables: Iterator[pa.Table], rows: int) -> Iterator[pa.Table]:
    for t in tables:
        if rows >= t.num_rows:
            rows -= t.num_rows
            continue
        if rows:
            t, rows = t.slice(rows), 0
        yield t
