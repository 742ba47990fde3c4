"""Bulk ingestion: a table-like source, streamed in batches, each batch one log entry.

Each batch is checked column by column (ids, documents, uris, metadata types and keys, embedding
shape and finiteness). When a check fails, the batch is handed to the same validation ``add`` runs
(``chroma_frame.validation``) so that the error raised is the one ``add`` would raise. Missing
embeddings are computed from the documents through the collection's embedding function.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chroma_frame import validation as v
from chroma_frame.engine.snapshot import Snapshot
from chroma_frame.engine.writes import Records, plan_upsert
from chroma_frame.errors import InvalidArgumentError
from chroma_frame.interop.columns import UnsupportedColumn, as_array, decode_dictionary, flatten, to_long
from chroma_frame.interop.sources import Source, open_source
from chroma_frame.storage.records import METADATA, PUT, decode_metadata, record_schema

if TYPE_CHECKING:
    from chroma_frame.collection import Collection

DEFAULT_BATCH_SIZE = 50_000
EMBED_BATCH = 1024
_CONVENTIONAL = {"document": ("document", "documents"), "embedding": ("embedding", "embeddings"),
                 "uri": ("uri", "uris")}


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


@dataclass
class Roles:
    """Which source column plays which part."""

    id: str
    document: str | None
    embedding: str | None
    uri: str | None
    metadata: list[tuple[str, str]] = field(default_factory=list)  # (column, key)
    long_metadata: str | None = None  # a stored-form ``metadata`` column (from export_parquet)

    @property
    def columns(self) -> list[str]:
        cols = [self.id, self.document, self.embedding, self.uri, self.long_metadata]
        return [c for c in cols if c is not None] + [c for c, _ in self.metadata]


def resolve_roles(source: Source, id_column: str, document_column: str | None, embedding_column: str | None,
                  uri_column: str | None, metadata_columns: Sequence[str] | Mapping[str, str] | None,
                  long_metadata: bool) -> Roles:
    names = source.names

    def pick(given: str | None, part: str) -> str | None:
        if given is not None:
            if given not in names:
                raise ValueError(f"ingest: no {part} column {given!r} in the source (columns: {names})")
            return given
        return next((c for c in _CONVENTIONAL[part] if c in names), None)

    if id_column not in names:
        raise ValueError(f"ingest: no id column {id_column!r} in the source (columns: {names})")
    roles = Roles(id_column, pick(document_column, "document"), pick(embedding_column, "embedding"),
                  pick(uri_column, "uri"))
    taken = {c for c in (roles.id, roles.document, roles.embedding, roles.uri) if c}
    if metadata_columns is None:
        if long_metadata and "metadata" in names:
            roles.long_metadata = "metadata"
            taken.add("metadata")
        roles.metadata = [(c, c) for c in names if c not in taken]
    else:
        pairs = metadata_columns.items() if isinstance(metadata_columns, Mapping) else [(c, c) for c in metadata_columns]
        for column, _ in pairs:
            if column not in names:
                raise ValueError(f"ingest: no metadata column {column!r} in the source (columns: {names})")
        roles.metadata = list(pairs)
    return roles


# -- one batch ---------------------------------------------------------------------------------

@dataclass
class Batch:
    ids: pa.Array
    documents: pa.Array | None
    uris: pa.Array | None
    metadata: pa.Array  # long form, METADATA type
    embeddings: np.ndarray | None  # (n, d) float32; rows not in ``have`` are to be computed
    have: np.ndarray | None  # rows whose embedding was given
    raw: pa.Table  # the source rows (for the reference validation on errors)

    def __len__(self) -> int:
        return len(self.ids)


def _strings(column: pa.ChunkedArray | pa.Array) -> pa.Array | None:
    array = decode_dictionary(as_array(column))
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), pa.string())
    if pa.types.is_string(array.type):
        return array
    if pa.types.is_large_string(array.type) or pa.types.is_string_view(array.type):
        return array.cast(pa.string())
    return None


def _matrix(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """(n, d) float32 and the mask of non-null rows; None when the column is not a matrix."""
    array = as_array(column)
    typ = array.type
    n = len(array)
    if pa.types.is_null(typ):
        return np.zeros((n, 0), np.float32), np.zeros(n, bool)
    if pa.types.is_fixed_size_list(typ):
        d = typ.list_size
        if not (pa.types.is_integer(typ.value_type) or pa.types.is_floating(typ.value_type)) or d == 0:
            return None
        values = array.values.slice(array.offset * d, n * d)
        if values.null_count and (array.null_count == 0 or array.filter(array.is_valid()).flatten().null_count):
            return None
        flat = values.cast(pa.float32()).to_numpy(zero_copy_only=False)
        matrix = np.asarray(flat, dtype=np.float32).reshape(n, d)
        have = array.is_valid().to_numpy(zero_copy_only=False)
        return matrix, have
    if not (pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_list_view(typ)
            or pa.types.is_large_list_view(typ)):
        return None
    if not (pa.types.is_integer(typ.value_type) or pa.types.is_floating(typ.value_type)):
        return None
    lengths = pc.list_value_length(array).to_numpy(zero_copy_only=False)
    have = array.is_valid().to_numpy(zero_copy_only=False)
    sizes = np.unique(lengths[have])
    if len(sizes) > 1 or (len(sizes) == 1 and sizes[0] == 0):
        return None
    d = int(sizes[0]) if len(sizes) else 0
    flat = pc.list_flatten(array)
    if flat.null_count:
        return None
    matrix = np.zeros((n, d), dtype=np.float32)
    matrix[have] = np.asarray(flat.cast(pa.float32()).to_numpy(zero_copy_only=False)).reshape(-1, d)
    return matrix, have


_BAD_KEY = ("#", "$")


def _key_problem(keys: Sequence[str]) -> str | None:
    for key in keys:
        if key == v.RESERVED_METADATA_KEY or key == "" or key.startswith(_BAD_KEY):
            return f"metadata key {key!r} is not allowed"
    return None


def prepare(table: pa.Table, roles: Roles, op: str) -> Batch:
    """Columns of a source batch in the stored types; Chroma's error when a check fails."""
    problems: list[str] = []
    ids = _strings(table.column(roles.id))
    if ids is None:
        problems.append(f"the id column has type {table.schema.field(roles.id).type}, not string")
    elif ids.null_count:
        problems.append("null id")
    elif pc.count_distinct(ids).as_py() != len(ids):
        problems.append("duplicate ids in a batch")
    elif len(ids) and pc.min(pc.utf8_length(ids)).as_py() == 0:
        problems.append("empty id")
    documents = uris = None
    for part in ("document", "uri"):
        name = getattr(roles, part)
        if name is not None:
            array = _strings(table.column(name))
            if array is None:
                problems.append(f"the {part} column has type {table.schema.field(name).type}, not string")
            if part == "document":
                documents = array
            else:
                uris = array
    metadata = pa.nulls(table.num_rows, METADATA)
    try:
        if roles.long_metadata is not None:
            metadata = as_array(table.column(roles.long_metadata)).cast(METADATA)
            keys = pc.unique(flatten(metadata)[0].field("key")).to_pylist()
        else:
            metadata = to_long([(key, table.column(col)) for col, key in roles.metadata], table.num_rows)
            keys = [key for _, key in roles.metadata]
        bad = _key_problem(keys)
        if bad:
            problems.append(bad)
    except (UnsupportedColumn, pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        problems.append(str(e))
    embeddings = have = None
    if roles.embedding is not None:
        got = _matrix(table.column(roles.embedding))
        if got is None:
            problems.append(f"the embedding column (type {table.schema.field(roles.embedding).type}) is not a matrix")
        else:
            embeddings, have = got
            if embeddings.shape[1] == 0 and have.any():
                problems.append("empty embedding")
            elif not np.isfinite(embeddings[have] if not have.all() else embeddings).all():
                problems.append("non-finite embedding")
    need = np.ones(table.num_rows, bool) if have is None else ~have
    if need.any() and (documents is None or documents.filter(pa.array(need)).null_count):
        problems.append("rows without an embedding need a document to embed")
    batch = Batch(ids, documents, uris, metadata, embeddings, have, table)
    if problems:
        raise_reference_error(batch, roles, op, problems[0])
    return batch


def _python_metadatas(batch: Batch, roles: Roles) -> list | None:
    if roles.long_metadata is not None:
        return decode_metadata(batch.metadata)
    if not roles.metadata:
        return None
    columns = [(key, batch.raw.column(col).to_pylist()) for col, key in roles.metadata]
    rows = []
    for i in range(batch.raw.num_rows):  # error path only
        row = {key: values[i] for key, values in columns if values[i] is not None}
        rows.append(row or None)
    return rows


def raise_reference_error(batch: Batch, roles: Roles, op: str, problem: str, dimension: int | None = None) -> None:
    """Run ``add``'s own validation on this batch to raise its error (error path only)."""
    raw = batch.raw
    ids = raw.column(roles.id).to_pylist()
    embeddings: Any = None
    if batch.embeddings is not None and batch.have is not None and batch.have.all():
        embeddings = batch.embeddings
    elif roles.embedding is not None and batch.embeddings is None:
        embeddings = raw.column(roles.embedding).to_pylist()
        embeddings = None if all(e is None for e in embeddings) else embeddings
    documents = raw.column(roles.document).to_pylist() if roles.document else None
    uris = raw.column(roles.uri).to_pylist() if roles.uri else None
    metadatas = _python_metadatas(batch, roles)
    with v.validation_context(op):
        rs = v.normalize_records(op, ids, embeddings, metadatas, documents, None, uris)
    check_engine(rs, dimension)
    with v.validation_context(op):
        raise ValueError(f"ingest: {problem}")


def check_engine(rs: v.RecordSet, dimension: int | None) -> None:
    """``validation.check_records_engine`` without Chroma's client batch-size limit."""
    v._check_rows_convertible(rs.embeddings, "embeddings")
    v._check_metadatas_convertible(rs.metadatas, rs.op)
    v._check_strings_convertible(rs.uris, "uris", allow_none=True)
    v._raise_field_errors([
        ("embeddings", v._non_finite_error(rs.embeddings)),
        ("metadatas", v._record_metadatas_error(rs.metadatas)),
    ])
    v._check_dimensions(rs.embeddings, dimension)
    if any(id_ == "" for id_ in rs.ids):
        raise InvalidArgumentError("Empty ID, ID must have at least one character")


def embed_missing(batch: Batch, embed: Callable[[list], Any], skip: np.ndarray) -> int:
    """Fill the embeddings of rows without one (except ``skip``); returns how many were computed."""
    need = np.ones(len(batch), bool) if batch.have is None else ~batch.have
    need &= ~skip
    rows = np.flatnonzero(need)
    if len(rows) == 0:
        if batch.embeddings is None:
            batch.embeddings = np.zeros((len(batch), 0), np.float32)
        return 0
    texts = batch.documents.take(pa.array(rows)).to_pylist()
    parts = []
    for start in range(0, len(texts), EMBED_BATCH):
        part = v.as_embedding_matrix(embed(texts[start : start + EMBED_BATCH]))
        if isinstance(part, list):
            raise InvalidArgumentError("Inconsistent dimensions in provided embeddings")
        parts.append(part)
    computed = np.concatenate(parts) if len(parts) > 1 else parts[0]
    d = computed.shape[1]
    if batch.embeddings is None or batch.embeddings.shape[1] == 0:
        batch.embeddings = np.zeros((len(batch), d), np.float32)
    elif batch.embeddings.shape[1] != d:
        raise InvalidArgumentError("Inconsistent dimensions in provided embeddings")
    batch.embeddings[rows] = computed
    if not np.isfinite(computed).all():
        raise InvalidArgumentError("Validation error: embeddings: Embeddings must not contain NaN or Infinity values")
    return len(rows)


# -- writing -----------------------------------------------------------------------------------

def existing(snap: Snapshot, ids: pa.Array) -> np.ndarray:
    """Mask of ``ids`` that are live in ``snap``."""
    if snap.table is None or len(ids) == 0:
        return np.zeros(len(ids), bool)
    column = snap.table.column("id")
    hit = pc.is_in(column, value_set=ids).to_numpy(zero_copy_only=False) & snap.live
    positions = np.flatnonzero(hit)
    if len(positions) == 0:
        return np.zeros(len(ids), bool)
    live_ids = column.take(pa.array(positions))
    return pc.is_in(ids, value_set=as_array(live_ids)).to_numpy(zero_copy_only=False)


def new_rows(snap: Snapshot, seq: int, batch: Batch, rows: np.ndarray, dimension: int) -> pa.Table:
    """After-images of new records (the ``rows`` of the batch), rowids after the snapshot's."""
    n = len(rows)
    take = pa.array(rows, pa.int64())
    full = n == len(batch)
    matrix = batch.embeddings if full else batch.embeddings[rows]
    flat = pa.array(np.ascontiguousarray(matrix, dtype=np.float32).reshape(-1))

    def pick(array: pa.Array | None) -> pa.Array:
        if array is None:
            return pa.nulls(n, pa.string())
        return array if full else array.take(take)

    return pa.Table.from_arrays(
        [
            pa.array(np.full(n, seq, np.int64)),
            pa.array(np.arange(snap.next_rowid, snap.next_rowid + n, dtype=np.int64)),
            pa.array(np.full(n, PUT, np.int8)),
            pick(batch.ids),
            pick(batch.documents),
            pick(batch.uris),
            batch.metadata if full else batch.metadata.take(take),
            pa.FixedSizeListArray.from_arrays(flat, dimension),
        ],
        schema=record_schema(dimension),
    )


def plan_batch(batch: Batch, op: str, skip: np.ndarray, counts: dict) -> Callable[[Snapshot, int], pa.Table | None]:
    """The write plan of one batch (runs under the collection's write lock)."""

    def plan(snap: Snapshot, seq: int) -> pa.Table | None:
        dimension = int(batch.embeddings.shape[1])
        v._check_dimensions(batch.embeddings, snap.dimension)
        there = existing(snap, batch.ids)
        parts = []
        counts["skipped"] = int((there | skip).sum()) if op == "add" else 0
        counts["written"] = 0
        if op == "upsert" and there.any():
            rows = np.flatnonzero(there)
            take = pa.array(rows)
            records = Records(
                ids=batch.ids.take(take).to_pylist(),
                embeddings=batch.embeddings[rows],
                metadatas=decode_metadata(batch.metadata.take(take)),
                documents=None if batch.documents is None else batch.documents.take(take).to_pylist(),
                uris=None if batch.uris is None else batch.uris.take(take).to_pylist(),
            )
            merged = plan_upsert(snap, seq, records)
            if merged is not None:
                parts.append(merged)
                counts["written"] += merged.num_rows
        fresh = np.flatnonzero(~there & ~skip)
        if len(fresh):
            parts.append(new_rows(snap, seq, batch, fresh, dimension))
            counts["written"] += len(fresh)
        if not parts:
            return None
        return pa.concat_tables(parts) if len(parts) > 1 else parts[0]

    return plan


class _Progress:
    def __init__(self, progress: Any, total: int | None) -> None:
        self.callback = progress if callable(progress) else None
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

    def update(self, done: int, total: int | None, step: int) -> None:
        if self.bar is not None:
            self.bar.update(step)
        if self.callback is not None:
            self.callback(done, total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(collection: "Collection", source: Any, *, mode: str, id_column: str, document_column: str | None,
        embedding_column: str | None, uri_column: str | None, metadata_columns: Any, batch_size: int,
        progress: Any, skip_rows: int) -> IngestSummary:
    if mode not in ("add", "upsert"):
        raise ValueError(f"ingest: mode must be 'add' or 'upsert', got {mode!r}")
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"ingest: batch_size must be a positive int, got {batch_size!r}")
    started = time.perf_counter()
    src = open_source(source)
    roles = resolve_roles(src, id_column, document_column, embedding_column, uri_column, metadata_columns, True)
    total = None if src.total is None else max(0, src.total - skip_rows)
    bar = _Progress(progress, total)
    read = committed = written = skipped = embedded = batches = 0
    store = collection._store
    snap = None
    try:
        for table in _skip(src.open(roles.columns, batch_size), skip_rows):
            if roles.long_metadata is not None and not _is_long_form(table.schema.field(roles.long_metadata).type):
                roles.metadata.insert(0, (roles.long_metadata, roles.long_metadata))  # just a key named "metadata"
                roles.long_metadata = None
            read += table.num_rows
            batch = prepare(table, roles, mode)
            skip = np.zeros(len(batch), bool)
            needs_embedding = batch.have is None or not batch.have.all()
            if needs_embedding and mode == "add":
                skip = existing(store.snapshot(), batch.ids)  # do not embed what add would drop
            with v.validation_context(mode):  # as add: embedding errors get the " in add." suffix
                embedded += embed_missing(batch, collection._embed, skip)
            counts: dict = {}
            snap = store.write(plan_batch(batch, mode, skip, counts))
            committed = read
            written += counts.get("written", 0)
            skipped += counts.get("skipped", int(skip.sum()))
            batches += 1 if counts.get("written") else 0
            bar.update(read, total, table.num_rows)
    except Exception as e:
        raise IngestError(e, skip_rows + committed, written, batches) from e
    finally:
        bar.close()
        if snap is not None:
            collection._after_write(snap)
    return IngestSummary(mode, read, written, skipped, embedded, batches, time.perf_counter() - started)


def _is_long_form(dtype: pa.DataType) -> bool:
    """A ``list<struct<key, ...>>`` column: metadata in the stored form (see export_parquet)."""
    return ((pa.types.is_list(dtype) or pa.types.is_large_list(dtype)) and pa.types.is_struct(dtype.value_type)
            and {f.name for f in dtype.value_type} >= {"key", "str_value", "int_value", "float_value", "bool_value"})


def _skip(tables: Iterator[pa.Table], rows: int) -> Iterator[pa.Table]:
    for t in tables:
        if rows >= t.num_rows:
            rows -= t.num_rows
            continue
        if rows:
            t, rows = t.slice(rows), 0
        yield t
