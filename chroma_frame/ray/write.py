"""``write``: a Ray Datasink that adds or upserts a dataset into a collection as one version.

The driver creates the collection if needed, reserves a job (a marker that keeps vacuum off the
job's files, and a range of rowids), then Ray runs :meth:`CollectionSink.write` on the workers:
each validates its rows as ``ingest`` does, embeds the documents that have no embedding with the
collection's function, and writes blockfiles of at most ``rows_per_file`` rows with their typed
columns, graph and sparse postings. When every task has returned, the driver checks the ids (no
duplicates across tasks), and commits all the blockfiles in one log entry
(``CollectionStore.attach``); the entry's own rows settle ids that were already live (an add
keeps the old record, an upsert merges into it). A failed job commits nothing and its files are
removed; a retried task writes the same file names again, and only the files of the attempt
that returned are committed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from ray.data import Datasink
from ray.data.block import Block, BlockAccessor

from chroma_frame import validation as v
from chroma_frame.config import DEFAULT_DATABASE, DEFAULT_TENANT
from chroma_frame.engine.snapshot import Snapshot
from chroma_frame.engine.store import full_rows
from chroma_frame.engine.writes import Records, _merged_rows, find_live, merge_metadata
from chroma_frame.errors import InvalidArgumentError
from chroma_frame.index.build import build_graph, embedding_matrix
from chroma_frame.index.graph import graph_nodes, save_graph
from chroma_frame.interop.batch import embed_missing, fill_sparse, prepare
from chroma_frame.interop.roles import Roles, is_long_form, resolve_roles
from chroma_frame.interop.sources import Source
from chroma_frame.ray.target import Target, resolve, task_cpus
from chroma_frame.sparse.files import save_postings
from chroma_frame.sparse.postings import build_postings
from chroma_frame.storage.blockfile import BLOCK_DIR, read_blockfile, write_blockfile
from chroma_frame.storage.jobs import end_job, job_block, start_job
from chroma_frame.storage.manifest import BlockRef, block_ref
from chroma_frame.storage.records import PUT, record_table
from chroma_frame.storage.typed import typed_columns, write_typed
from chroma_frame.validation.records import _duplicates_message

if TYPE_CHECKING:
    import ray.data

ROWID_GAP = 1 << 36  # rowids left free before a job's own, for the writes committed while it runs
TASK_ROWIDS = 1 << 32  # rowids per task


@dataclass(frozen=True)
class WriteSummary:
    """What a :func:`write` did."""

    mode: str
    rows_read: int  # dataset rows
    rows_written: int  # records inserted or updated
    rows_skipped: int  # add: ids that already existed (ignored, as add does)
    rows_embedded: int  # embeddings computed from documents, on the workers
    blockfiles: int
    graphs: int  # graphs built on the workers
    version: Optional[int]  # the collection's version after the commit (None: nothing to commit)
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else float("inf")


@dataclass(frozen=True)
class _Job:
    """What every task of one write needs, fixed by the driver before the tasks start."""

    target: Target
    job: str
    mode: str
    roles: Roles
    rowid_base: int
    seq: int  # the version the job expects to commit (stored in its rows' ``seq``)
    rows_per_file: int
    build_graphs: bool
    dimension: Optional[int]  # the collection's at the job's start (the commit checks it again)


def write(dataset: "ray.data.Dataset", path: str, collection: str, *, mode: str = "add",
          configuration: Optional[dict] = None, metadata: Optional[dict] = None, embedding_function: Any = None,
          id_column: str = "id", document_column: Optional[str] = None, embedding_column: Optional[str] = None,
          uri_column: Optional[str] = None, metadata_columns: Sequence[str] | Mapping[str, str] | None = None,
          tenant: str = DEFAULT_TENANT, database: str = DEFAULT_DATABASE, settings: Any = None,
          rows_per_file: Optional[int] = None, build_graphs: bool = True,
          ray_remote_args: Optional[dict] = None, concurrency: Optional[int] = None) -> WriteSummary:
    """Add (or upsert) every row of ``dataset`` into ``collection`` under ``path`` as one version.

    The collection is created when it does not exist (``configuration``, ``metadata``,
    ``embedding_function`` as in ``get_or_create_collection``). Column roles as in
    ``Collection.ingest``: ``id_column``; the document, embedding and uri columns by their
    conventional names unless given; every other column is metadata (``metadata_columns`` picks
    some, a mapping renames them). Rows without an embedding are embedded from their document on
    the workers. ``rows_per_file`` (default: a full blockfile, 1M rows at dimension 384) is the
    most rows one task writes to one blockfile, so also the unit of parallelism and of a graph.
    Raises the error ``add`` would raise for bad input, :class:`~chroma_frame.errors.DuplicateIDError`
    when an id appears twice in the dataset; either way nothing is committed.
    """
    if mode not in ("add", "upsert"):
        raise ValueError(f"write: mode must be 'add' or 'upsert', got {mode!r}")
    started = time.perf_counter()
    target = resolve(path, collection, settings, tenant=tenant, database=database)
    col = target.client().get_or_create_collection(collection, configuration=configuration, metadata=metadata,
                                                   embedding_function=embedding_function)
    target = Target(target.path, target.collection, target.tenant, target.database, target.settings)
    store = col._engine.store
    names = list(dataset.schema().names)
    roles = resolve_roles(Source(names, None, _unread, "ray.data.Dataset"), id_column, document_column,
                          embedding_column, uri_column, metadata_columns, True)
    snap = store.snapshot(fresh=True)
    cap = rows_per_file if rows_per_file is not None else full_rows(snap.dimension or 384)
    if not isinstance(cap, int) or cap <= 0:
        raise ValueError(f"write: rows_per_file must be a positive int, got {rows_per_file!r}")
    job = start_job(store.storage, store.prefix, f"ray.write {mode}")
    plan = _Job(target, job, mode, roles, snap.next_rowid + ROWID_GAP, snap.last_seq + 1, cap, build_graphs,
                snap.dimension)
    sink = CollectionSink(plan, embedding_function)
    try:
        dataset.write_datasink(sink, ray_remote_args=ray_remote_args or {}, concurrency=concurrency)
    finally:
        end_job(store.storage, store.prefix, job)
    result = sink.result
    assert result is not None
    return WriteSummary(mode, result["read"], result["written"], result["skipped"], result["embedded"],
                        result["blockfiles"], result["graphs"], result["version"], time.perf_counter() - started)


class CollectionSink(Datasink):
    """The Datasink of :func:`write` (use that function: it prepares the job)."""

    def __init__(self, job: _Job, embedding_function: Any = None) -> None:
        self.job = job
        self.embedding_function = embedding_function  # a legacy function without a config: shipped as is
        self.result: Optional[dict] = None

    def get_name(self) -> str:
        return "chroma-frame"

    @property
    def min_rows_per_write(self) -> Optional[int]:
        return self.job.rows_per_file

    # -- on the workers ------------------------------------------------------------------------
    def write(self, blocks: Iterable[Block], ctx: Any) -> dict:
        job = self.job
        col = job.target.get(self.embedding_function)
        store, engine = col._engine.store, col._engine
        tables = [BlockAccessor.for_block(b).to_arrow() for b in blocks]
        tables = [t for t in tables if t.num_rows]
        out = {"blocks": [], "ids": pa.array([], pa.string()), "read": 0, "embedded": 0, "graphs": 0}
        if not tables:
            return out
        table = pa.concat_tables(tables, promote_options="permissive")
        roles = replace(job.roles, metadata=list(job.roles.metadata))
        if roles.long_metadata is not None and not is_long_form(table.schema.field(roles.long_metadata).type):
            roles.metadata.insert(0, (roles.long_metadata, roles.long_metadata))
            roles.long_metadata = None
        dimension = job.dimension  # (not from a snapshot: a task never reads the collection's blockfiles)
        blocks, ids = [], []
        task = int(getattr(ctx, "task_idx", 0))
        for part, (start, stop) in enumerate(_parts(table.num_rows, job.rows_per_file, table.schema)):
            chunk = table.slice(start, stop - start)
            batch = prepare(chunk, roles, "add" if job.mode == "add" else "upsert")
            skip = np.zeros(len(batch), bool)
            with v.validation_context(job.mode):
                out["embedded"] += embed_missing(batch, col._embedder.dense, skip)
                fill_sparse(batch, col._embedder.sparse_target, skip)
                v.check_dimensions(batch.embeddings, dimension)
            dimension = batch.embeddings.shape[1] if batch.embeddings is not None else dimension
            records = batch.records()
            rowids = job.rowid_base + task * TASK_ROWIDS + start + np.arange(len(batch))
            rows = record_table(dimension=int(dimension or 0), seq=job.seq, op=PUT, rowids=rowids, ids=records.ids,
                                documents=records.documents, uris=records.uris,
                                metadata=merge_metadata(None, records.metadata) if records.metadata is not None
                                else None, embeddings=records.embeddings)
            ref = write_blockfile(store.storage, store.prefix, rows, stem=job_block(job.job, task, part))
            _derived(store, engine.config, ref, rows, job.build_graphs, out)
            blocks.append((ref.to_json(), int(dimension or 0)))
            ids.append(records.ids)
        out.update(blocks=blocks, ids=pa.concat_arrays(ids), read=table.num_rows)
        return out

    # -- on the driver -------------------------------------------------------------------------
    def on_write_complete(self, write_result: Any) -> None:
        returns = [r for r in write_result.write_returns if r is not None]
        job = self.job
        col = job.target.get()
        store = col._engine.store
        refs = [block_ref(entry, dimension) for r in returns for entry, dimension in r["blocks"]]
        ids = pa.chunked_array([r["ids"] for r in returns], pa.string()) if returns else pa.chunked_array([],
                                                                                                         pa.string())
        totals = {key: sum(r[key] for r in returns) for key in ("read", "embedded", "graphs")}
        if not refs:
            self.result = {**totals, "written": 0, "skipped": 0, "blockfiles": 0, "version": None}
            return
        _check_unique(ids)
        dims = {int(ref.dimension or 0) for ref in refs}
        if len(dims) > 1:
            raise InvalidArgumentError(f"the dataset's embeddings have different dimensions: {sorted(dims)}")
        counts: dict[str, int] = {}
        if job.mode == "add":  # an add of ids that all exist changes nothing: no version for it
            current = store.snapshot(fresh=True)
            if current.count and bool((find_live(current, ids.combine_chunks()) >= 0).all()):
                _discard(store, job.job)
                self.result = {**totals, "written": 0, "skipped": len(ids), "blockfiles": 0,
                               "version": current.last_seq}
                return

        dimension = dims.pop()
        starts = np.cumsum([0] + [int(ref.rows or 0) for ref in refs])

        def fix(before: Snapshot, seq: int) -> tuple[Optional[pa.Table], int]:
            if before.dimension is not None and before.dimension != dimension:
                raise InvalidArgumentError(f"Collection expecting embedding with dimension of {before.dimension}, "
                                           f"got {dimension}")
            if before.next_rowid > job.rowid_base:
                raise InvalidArgumentError("other writes committed while the job ran used up its reserved rowids")
            positions = find_live(before, ids.combine_chunks()) if before.count else np.full(len(ids), -1)
            clash = np.flatnonzero(positions >= 0)
            counts["skipped"] = len(clash) if job.mode == "add" else 0
            counts["written"] = len(ids) - counts["skipped"]
            records = before.count + len(ids) - len(clash)
            if not len(clash):
                return None, records
            if job.mode == "add":  # add keeps the record that exists: it goes after the job's rows again
                old = before.rows(positions[clash])
                return old.set_column(0, "seq", pa.array(np.full(len(clash), seq, np.int64))), records
            new = _rows_at(store, refs, starts, clash)  # upsert: merged into the record that exists
            given = Records(ids=new.column("id").combine_chunks(), embeddings=embedding_matrix(new),
                            metadata=new.column("metadata").combine_chunks(),
                            documents=new.column("document").combine_chunks(), uris=new.column("uri").combine_chunks())
            return _merged_rows(before, seq, given, positions[clash], dimension), records

        version = store.attach(refs, fix, operation=f"ray:{job.mode}")
        self.result = {**totals, **counts, "blockfiles": len(refs), "version": version}

    def on_write_failed(self, error: Exception) -> None:
        store = self.job.target.get()._engine.store
        _discard(store, self.job.job)


def _derived(store: Any, config: Any, ref: BlockRef, rows: pa.Table, graphs: bool, out: dict) -> None:
    """A new blockfile's typed columns, graph and sparse postings, written beside it."""
    typed = typed_columns(rows.column("metadata"))
    if typed[0]:
        write_typed(store.storage, store.prefix, ref, typed)
    nodes = graph_nodes(rows)
    if graphs and config.index.wants_graph(len(nodes)):
        matrix = embedding_matrix(rows)
        save_graph(store.storage, store.prefix, ref, build_graph(matrix, config.index, nodes=nodes,
                                                                 threads=task_cpus()))
        out["graphs"] += 1
    from chroma_frame.engine.snapshot import sparse_rows_of

    for key, _ in (config.sparse or {}).items():
        save_postings(store.storage, store.prefix, ref, key, build_postings(sparse_rows_of(rows.column("metadata"),
                                                                                           key)))


def _parts(rows: int, target: int, schema: pa.Schema) -> list[tuple[int, int]]:
    """A task's rows cut into equal blockfiles of about ``target`` rows (Ray hands a task at
    least ``target`` rows, often a block more: one blockfile of 1.2 targets, not one of 1 and
    one of 0.2), never more than a full blockfile (what one graph build holds in memory)."""
    field = schema.field("embedding") if "embedding" in schema.names else None
    width = field.type.list_size if field is not None and pa.types.is_fixed_size_list(field.type) else 384
    parts = max(1, round(rows / target), -(-rows // full_rows(width)))
    cuts = [rows * i // parts for i in range(parts + 1)]
    return list(zip(cuts[:-1], cuts[1:]))


def _rows_at(store: Any, refs: list[BlockRef], starts: np.ndarray, rows: np.ndarray) -> pa.Table:
    """Rows ``rows`` (ascending, numbered across ``refs`` in order) of the job's blockfiles:
    only the blockfiles holding some of them are read."""
    parts = []
    which = np.searchsorted(starts, rows, side="right") - 1
    for b in np.unique(which).tolist():
        table = read_blockfile(store.storage, store.prefix, refs[b])
        parts.append(table.take(pa.array(rows[which == b] - starts[b], pa.int64())))
    return pa.concat_tables(parts)


def _unread(columns: Sequence[str], batch_size: int) -> Any:
    raise AssertionError("the roles are resolved from the dataset's schema alone")


def _check_unique(ids: pa.ChunkedArray) -> None:
    counts = pc.value_counts(ids.combine_chunks())
    dup = counts.filter(pc.greater(counts.field("counts"), 1))
    if len(dup):
        from chroma_frame.errors import DuplicateIDError

        raise DuplicateIDError(_duplicates_message(set(dup.field("values").to_pylist())))


def _discard(store: Any, job: str) -> None:
    """Remove every file a job wrote (its blockfiles and what was derived from them)."""
    for name in store.storage.list_names(f"{store.prefix}/{BLOCK_DIR}"):
        if name.startswith(f"{job}-"):
            store.storage.delete_file(f"{store.prefix}/{BLOCK_DIR}/{name}")


__all__ = ["write", "WriteSummary", "CollectionSink"]
