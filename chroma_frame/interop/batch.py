"""One ingest batch: source columns checked and converted to the stored types, embeddings filled.

Each batch is checked column by column (ids, documents, uris, metadata types and keys, embedding
shape and finiteness). When a check fails, the batch is handed to the validation ``add`` runs
(``chroma_frame.validation``), so that the error raised is the one ``add`` would raise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal, Optional, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chroma_frame import validation as v
from chroma_frame.engine.writes import Records
from chroma_frame.errors import InvalidArgumentError
from chroma_frame.interop.columns import (
    UnsupportedColumn,
    UnsupportedColumnType,
    as_array,
    decode_dictionary,
    flatten,
    to_long,
)
from chroma_frame.interop.roles import Roles
from chroma_frame.storage.records import METADATA, decode_metadata, encode_metadata, group_entries

EMBED_BATCH = 256  # texts per call: about 5 s for the default model on 2 cores, so progress moves
Mode = Literal["add", "upsert"]


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

    def records(self) -> Records:
        """The batch as the write path's input (once its embeddings are filled)."""
        return Records(ids=self.ids, embeddings=self.embeddings, metadata=self.metadata, documents=self.documents,
                       uris=self.uris)


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


def prepare(table: pa.Table, roles: Roles, op: Mode) -> Batch:
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
    except UnsupportedColumnType as e:
        raise ValueError(str(e)) from None  # add's message would name a value, not the column
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


def raise_reference_error(batch: Batch, roles: Roles, op: Mode, problem: str, dimension: int | None = None) -> None:
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
    v.check_records_ingest(rs, dimension)
    with v.validation_context(op):
        raise ValueError(f"ingest: {problem}")


def embed_missing(batch: Batch, embed: Callable[[list], Any], skip: np.ndarray,
                  progress: Optional[Callable[[int], None]] = None) -> int:
    """Fill the embeddings of rows without one (except ``skip``); returns how many were computed.
    ``progress(n)`` is called after each ``EMBED_BATCH`` texts, so a bar moves while a batch embeds."""
    need = np.ones(len(batch), bool) if batch.have is None else ~batch.have
    need &= ~skip
    rows = np.flatnonzero(need)
    if len(rows) == 0:
        if batch.embeddings is None:
            batch.embeddings = np.zeros((len(batch), 0), np.float32)
        return 0
    assert batch.documents is not None  # prepare() refused rows with neither embedding nor document
    texts = batch.documents.take(pa.array(rows)).to_pylist()
    parts = []
    for start in range(0, len(texts), EMBED_BATCH):
        part = v.as_embedding_matrix(embed(texts[start : start + EMBED_BATCH]))
        if isinstance(part, list):
            raise InvalidArgumentError("Inconsistent dimensions in provided embeddings")
        parts.append(part)
        if progress is not None:
            progress(len(part))
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


def fill_sparse(batch: Batch, target: Any, skip: np.ndarray) -> int:
    """Chroma's client rule for the schema's sparse index, vectorised over a batch: rows whose metadata
    lacks ``target.key`` and whose source (``#document`` or a string metadata value) is a string get
    the sparse vector of that source appended to their metadata. Returns how many were computed."""
    if target is None or target.source_key is None or target.embedding_function is None:
        return 0
    n = len(batch)
    entries = batch.metadata.flatten()
    parents = pc.list_parent_indices(batch.metadata).to_numpy()
    keys = entries.field("key")
    has_key = np.zeros(n, bool)
    has_key[parents[pc.equal(keys, target.key).to_numpy(zero_copy_only=False)]] = True
    if target.source_key == "#document":
        sources = batch.documents if batch.documents is not None else pa.nulls(n, pa.string())
    else:
        hit = pc.and_(pc.equal(keys, target.source_key), pc.invert(entries.field("is_array"))).to_numpy(
            zero_copy_only=False)
        values = np.full(n, None, object)
        values[parents[hit]] = entries.field("str_value").filter(pa.array(hit)).to_numpy(zero_copy_only=False)
        sources = pa.array(values, pa.string())
    need = ~has_key & ~skip & sources.is_valid().to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(need)
    if len(rows) == 0:
        return 0
    from chroma_frame.schema.sparse_write import embed_sparse

    vectors = embed_sparse(target.embedding_function, sources.take(pa.array(rows)).to_pylist())
    added = encode_metadata([{target.key: vector} for vector in vectors])
    # Each row's entries followed by its new one: a stable sort of all entries by row.
    all_parents = np.concatenate([parents, rows[pc.list_parent_indices(added).to_numpy()]])
    order = np.argsort(all_parents, kind="stable")
    merged = pa.concat_arrays([entries, added.flatten()]).take(pa.array(order))
    batch.metadata = group_entries(merged, all_parents[order], n)
    return len(rows)
