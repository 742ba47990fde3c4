"""Input normalisation and checks at the API boundary, reproducing Chroma 1.5.9.

Pure functions: no I/O, no DuckDB. Chroma validates in two places and we keep the split:

* **Python side** (``chromadb/api/types.py``): ``ValueError`` / ``TypeError`` /
  ``DuplicateIDError``. Callers run these inside ``validation_context(op)``, which appends
  ``" in {op}."`` to the message, exactly like Chroma's decorator. These are the
  ``normalize_*`` functions and the plain ``check_*`` functions.
* **Engine side** (Chroma's Rust core reached through PyO3): argument conversion errors
  (``TypeError`` / ``OverflowError``), then ``InvalidArgumentError`` / ``InternalError``.
  No suffix. These are the ``*_engine`` functions and the collection-level ``prepare_*``
  functions; call them *outside* ``validation_context``.

Within each side the checks run in Chroma's order, so the error that wins when several
apply is Chroma's. How a Collection verb uses this module::

    add/upsert/update:  with validation_context(op): rs = normalize_records(op, ...)
                        (embed documents/images/uris if rs.embeddings is None -> attach_embeddings)
                        check_records_engine(rs, collection_dimension)
    get:    with validation_context("get"): ids = normalize_ids("get", ids); <where checks>;
                                            include = check_include(include, "get")
            limit, offset = check_limit_offset(limit, offset, "get")
    delete: with validation_context("delete"): check_delete_args(...); ids = normalize_ids(...);
                                               <where checks>
            check_limit_offset(limit, None, "delete")
    query:  with validation_context("query"): q = normalize_query(...); ids = normalize_ids("query", ids)
                <where checks>; include = check_include(...); n = check_n_results(n); check_query_embeddable(q)
            (embed if needed); matrix = check_query_engine(ids, embeddings, n, dimension)
"""

from __future__ import annotations

import ipaddress
import json
import math
import operator
import re
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Iterator, Literal

import numpy as np

from chroma_frame.base_types import check_sparse_vector
from chroma_frame.errors import ChromaError, DuplicateIDError, InternalError, InvalidArgumentError

MAX_BATCH_SIZE = 5461
U32_MAX = 2**32 - 1
I64_MIN, I64_MAX = -(2**63), 2**63 - 1

INCLUDE_ITEMS = ("documents", "embeddings", "metadatas", "distances", "uris", "data")
DEFAULT_INCLUDE = {"get": ["metadatas", "documents"], "query": ["metadatas", "documents", "distances"]}
RESERVED_METADATA_KEY = "chroma:document"
SPARSE_TYPE_KEY, SPARSE_TYPE_VALUE = "#type", "sparse_vector"
SPACES = ("l2", "cosine", "ip")
_EMBEDDING_DTYPES = [np.float16, np.float32, np.float64, np.int32, np.int64]

Op = Literal["add", "upsert", "update"]


# --------------------------------------------------------------------------- context


@contextmanager
def validation_context(op: str) -> Iterator[None]:
    """Append ``" in {op}."`` to Python-side validation errors, keeping their class.

    Like Chroma's decorator this rewrites every non-Chroma exception (Chroma's validators
    also leak ``AttributeError``/``KeyError``/``IndexError`` on odd inputs) and
    ``DuplicateIDError``; other ``ChromaError``s pass through untouched.
    """
    try:
        yield
    except Exception as e:
        if isinstance(e, ChromaError) and not isinstance(e, DuplicateIDError):
            raise
        e.args = (f"{e} in {op}.",) + e.args[1:] if e.args else ()
        raise


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class RecordSet:
    """A normalised add/upsert/update batch.

    ``embeddings`` is a 2-D float32 array, or None when the caller must embed
    ``documents``/``images``/``uris``. Rows that cannot form a matrix (ragged, or not 1-D)
    stay a list of arrays until ``check_records_engine`` rejects them, which is where
    Chroma rejects them too.
    """

    ids: list[str]
    embeddings: np.ndarray | None
    metadatas: list[dict | None] | None
    documents: list[str | None] | None
    uris: list[str | None] | None
    images: list[Any] | None = None
    op: str = "add"


def normalize_records(
    op: Op, ids: Any, embeddings: Any = None, metadatas: Any = None,
    documents: Any = None, images: Any = None, uris: Any = None,
) -> RecordSet:
    """Chroma's ``_validate_and_prepare_{op}_request`` without the embedding call."""
    rows = normalize_embeddings(embeddings, matrix=True)
    fields = {
        "ids": _one_to_many(ids),
        "metadatas": _normalize_metadatas(metadatas),
        "embeddings": rows,
        "documents": _one_to_many(documents),
        "images": _one_to_many(images),
        "uris": _one_to_many(uris),
    }
    _check_lengths(fields)
    if rows is not None:
        _check_embedding_rows(rows)
    if fields["documents"] is not None:
        _check_documents(fields["documents"], nullable=rows is not None)
    if fields["images"] is not None:
        _check_images(fields["images"])
    _check_ids(fields["ids"])
    for metadata in fields["metadatas"] or ():
        _check_metadata(metadata)
    _check_embeddable(op, fields)
    return RecordSet(
        ids=fields["ids"], embeddings=None if rows is None else as_embedding_matrix(rows),
        metadatas=fields["metadatas"], documents=fields["documents"], uris=fields["uris"],
        images=fields["images"], op=op,
    )


def attach_embeddings(records: RecordSet, embeddings: Any) -> RecordSet:
    """The same records with embeddings computed by an embedding function."""
    return replace(records, embeddings=as_embedding_matrix(embeddings))


def as_embedding_matrix(rows: Any) -> Any:
    """A 2-D float32 array without needless copies; irregular rows stay a list of arrays."""
    with np.errstate(over="ignore"):
        if isinstance(rows, np.ndarray) and rows.ndim == 2:
            return np.asarray(rows, dtype=np.float32)
        arrays = [np.asarray(r) for r in rows]
        if len(arrays) == 1 and arrays[0].ndim == 1:
            return np.asarray(arrays[0], dtype=np.float32)[np.newaxis, :]
        if arrays and all(a.ndim == 1 and a.shape == arrays[0].shape for a in arrays):
            return np.array(arrays, dtype=np.float32)
        return arrays


def _one_to_many(value: Any) -> list | None:
    if value is None or isinstance(value, list):
        return value
    return [value]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def normalize_embeddings(target: Any, *, matrix: bool = False) -> Any:
    """Chroma's ``normalize_embeddings``: one or many vectors -> a list of 1-D numpy arrays.

    ``matrix=True`` (the API boundary's fast path): a 2-D array comes back as it is, and a list of
    lists of one length as one 2-D float32 array. ``chroma_frame.embeddings`` exports this function.
    """
    if target is None:
        return None
    if len(target) == 0:
        raise ValueError(f"Expected Embeddings to be non-empty list or numpy array, got {target}")
    if isinstance(target, np.ndarray):
        if target.ndim == 1:
            return [target]
        if target.ndim == 2:
            return target if matrix else [row for row in target]
    elif isinstance(target, list):
        if _is_number(target[0]):
            return [np.array(target, dtype=np.float32)]
        if isinstance(target[0], np.ndarray):
            return target
        if isinstance(target[0], list) and _is_number(target[0][0]):
            return _float32_rows(target) if matrix else [np.array(row, dtype=np.float32) for row in target]
    raise ValueError(
        "Expected embeddings to be a list of floats or ints, a list of lists, a numpy array, "
        f"or a list of numpy arrays, got {target}"
    )


def _float32_rows(rows: list) -> Any:
    """Convert a list of lists in one go; per row (Chroma's way) when that fails."""
    with np.errstate(over="ignore"):
        try:
            matrix = np.array(rows, dtype=np.float32)
            if matrix.ndim == 2:
                return matrix
        except (ValueError, TypeError):
            pass
        return [np.array(row, dtype=np.float32) for row in rows]


def _check_embedding_rows(rows: Any) -> None:
    """Chroma's ``validate_embeddings`` (vectorised for a 2-D array)."""
    if isinstance(rows, np.ndarray):
        _check_embedding_row(rows[0], 0)
        return
    if not all(isinstance(e, np.ndarray) for e in rows):
        names = list(set([type(e).__name__ for e in rows]))
        raise ValueError(f"Expected each embedding in the embeddings to be a numpy array, got {names}")
    for i, row in enumerate(rows):
        _check_embedding_row(row, i)


def _check_embedding_row(row: np.ndarray, i: int) -> None:
    if row.ndim == 0:
        raise ValueError(f"Expected a 1-dimensional array, got a 0-dimensional array {row}")
    if row.size == 0:
        raise ValueError(
            "Expected each embedding in the embeddings to be a 1-dimensional numpy array with at least "
            f"1 int/float value. Got a 1-dimensional numpy array with no values at pos {i}"
        )
    if row.dtype not in _EMBEDDING_DTYPES:
        raise ValueError(
            f"Expected each value in the embedding to be a int or float, got an embedding with {row.dtype} - {row}"
        )


def _check_lengths(fields: dict[str, Any]) -> None:
    """Chroma's ``_validate_record_set_length_consistency``."""
    given = {k: v for k, v in fields.items() if v is not None}
    if not given:
        raise ValueError(f"At least one of one of {', '.join(fields)} must be provided")
    empty = [k for k, v in given.items() if len(v) == 0]
    if empty:
        raise ValueError(f"Non-empty lists are required for {empty}")
    if len({len(v) for v in given.values()}) > 1:
        raise ValueError("Unequal lengths for fields: " + ", ".join(f"{k}: {len(v)}" for k, v in given.items()))


def _check_documents(documents: list, nullable: bool) -> None:
    for document in documents:
        if document is None and nullable:
            continue
        if not isinstance(document, str):
            raise ValueError(f"Expected document to be a str, got {document}")


def _check_images(images: list) -> None:
    for image in images:
        if not (isinstance(image, np.ndarray) and image.ndim >= 2):
            raise ValueError(f"Expected image to be a numpy array, got {image}")


def _check_ids(ids: Any) -> None:
    """Chroma's ``validate_ids`` (same set iteration, so the same duplicate listing)."""
    if not isinstance(ids, list):
        raise ValueError(f"Expected IDs to be a list, got {type(ids).__name__} as IDs")
    if len(ids) == 0:
        raise ValueError(f"Expected IDs to be a non-empty list, got {len(ids)} IDs")
    seen, dups = set(), set()
    for id_ in ids:
        if not isinstance(id_, str):
            raise ValueError(f"Expected ID to be a str, got {id_}")
        (dups if id_ in seen else seen).add(id_)
    if dups:
        raise DuplicateIDError(_duplicates_message(dups))


def _duplicates_message(dups: set[str]) -> str:
    if len(dups) < 10:
        return f"Expected IDs to be unique, found duplicates of: {', '.join(dups)}"
    examples = []
    for idx, dup in enumerate(dups):
        examples.append(dup)
        if idx == 10:
            break
    shown = f"{', '.join(examples[:5])}, ..., {', '.join(examples[-5:])}"
    return f"Expected IDs to be unique, found {len(dups)} duplicated IDs: {shown}"


def _check_embeddable(op: str, fields: dict[str, Any]) -> None:
    """Chroma's ``validate_record_set_for_embedding`` as each verb applies it."""
    if fields["embeddings"] is not None:
        return
    if op == "add":
        _exactly_one(fields, ("documents", "images", "uris"))
    elif op == "upsert" or fields["documents"] is not None or fields["images"] is not None:
        _exactly_one(fields, ("documents", "images"))


def _exactly_one(fields: dict[str, Any], names: tuple[str, ...]) -> None:
    """Chroma lists a Python set here, in an order that varies by process; ours is fixed."""
    if sum(fields[name] is not None for name in names) != 1:
        raise ValueError(f"Exactly one of {', '.join(names)} must be provided")


# --------------------------------------------------------------------------- record metadata


def _normalize_metadatas(metadatas: Any) -> list | None:
    """Chroma's ``normalize_metadatas``: new dicts, sparse vectors validated (kept as dicts)."""
    unpacked = _one_to_many(metadatas)
    if unpacked is None:
        return None
    return [None if m is None else {k: _normalize_sparse(v) for k, v in m.items()} for m in unpacked]


def _is_sparse(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SPARSE_TYPE_KEY) == SPARSE_TYPE_VALUE


def _normalize_sparse(value: Any) -> Any:
    if type(value).__name__ == "SparseVector" and hasattr(value, "to_dict"):
        value = value.to_dict()
    if _is_sparse(value):
        check_sparse_vector(value["indices"], value["values"], value.get("tokens"))
    return value


def _check_metadata(metadata: Any, sparse_dicts: bool = True) -> None:
    """Chroma's ``validate_metadata`` (records on every verb, and the collection on modify).

    Record metadata reaches it normalised (sparse dicts already validated); modify's raw
    metadata does not, so there a sparse dict is just a dict (``sparse_dicts=False``).
    """
    if not isinstance(metadata, dict) and metadata is not None:
        raise ValueError(f"Expected metadata to be a dict or None, got {type(metadata).__name__} as metadata")
    if metadata is None:
        return
    if len(metadata) == 0:
        raise ValueError(f"Expected metadata to be a non-empty dict, got {len(metadata)} metadata attributes")
    for key, value in metadata.items():
        if key == RESERVED_METADATA_KEY:
            raise ValueError(f"Expected metadata to not contain the reserved key {RESERVED_METADATA_KEY}")
        if not isinstance(key, str):
            raise TypeError(f"Expected metadata key to be a str, got {key} which is a {type(key).__name__}")
        if (sparse_dicts and _is_sparse(value)) or type(value).__name__ == "SparseVector":
            continue
        if isinstance(value, list):
            _check_metadata_list(key, value)
        elif not isinstance(value, (bool, str, int, float, type(None))):
            raise ValueError(
                "Expected metadata value to be a str, int, float, bool, SparseVector, list, or None, "
                f"got {value} which is a {type(value).__name__}"
            )


def _check_metadata_list(key: str, value: list) -> None:
    if len(value) == 0:
        raise ValueError(f"Expected metadata list value for key '{key}' to be non-empty")
    first = bool if isinstance(value[0], bool) else type(value[0])
    for item in value:
        item_type = bool if isinstance(item, bool) else type(item)
        if item_type is not first or item_type not in (str, int, float, bool):
            raise ValueError(
                f"Expected metadata list value for key '{key}' to contain only str, int, float, or bool "
                f"and all elements must be the same type, got {value}"
            )


def _metadata_key_error(key: str) -> str | None:
    """Rust ``validate_metadata_key``."""
    if key == "":
        return "Metadata key cannot be empty"
    if key.startswith(("#", "$")):
        return f"Metadata key cannot start with '#' or '$': {key}"
    return None


# --------------------------------------------------------------------------- engine checks (records)


def check_records_engine(records: RecordSet, dimension: int | None, *, client_batch: bool = True) -> None:
    """The checks Chroma's core makes on add/upsert/update, in its order (no suffix).

    ``client_batch=False`` (bulk ingest, whose records come from Arrow columns) leaves out the
    client's batch-size limit and what Arrow types already guarantee: integers within int64
    (larger Python ints become floats) and sparse indices within ``uint32``."""
    _check_rows_convertible(records.embeddings, "embeddings")
    _check_metadatas_convertible(records.metadatas, records.op)
    if client_batch:
        _store_metadata_numbers(records.metadatas)
    _check_strings_convertible(records.uris, "uris", allow_none=True)
    if client_batch and len(records.ids) > MAX_BATCH_SIZE:
        raise InternalError(
            f"ValueError: Batch size of {len(records.ids)} is greater than max batch size of {MAX_BATCH_SIZE}"
        )
    _raise_field_errors([
        ("embeddings", _non_finite_error(records.embeddings)),
        ("metadatas", _record_metadatas_error(records.metadatas)),
    ])
    _check_dimensions(records.embeddings, dimension)
    if any(id_ == "" for id_ in records.ids):
        raise InvalidArgumentError("Empty ID, ID must have at least one character")
    if client_batch:
        check_sparse_index_range(records.metadatas)


def check_records_ingest(records: RecordSet, dimension: int | None) -> None:
    """:func:`check_records_engine` for bulk ingest (no client batch limit)."""
    check_records_engine(records, dimension, client_batch=False)


def check_dimensions(embeddings: Any, dimension: int | None) -> None:
    """Every row has the collection's dimension (Chroma's message otherwise)."""
    _check_dimensions(embeddings, dimension)


def check_embedding_rows(rows: Any) -> None:
    """Embedding rows are numbers (Chroma's messages otherwise)."""
    _check_embedding_rows(rows)


def create_sections(configuration: Any, metadata: Any, default_space: Any) -> Any:
    """The ``hnsw`` / ``spann`` sections of a new collection's configuration."""
    return _create_sections(configuration, metadata, default_space)


def check_sparse_index_range(metadatas: list | None) -> None:
    """Sparse indices are u32 in Chroma's engine (and in our storage); larger ones are refused."""
    for metadata in metadatas or ():
        for key, value in (metadata or {}).items():
            if _is_sparse(value) and value["indices"] and value["indices"][-1] > U32_MAX:
                raise InvalidArgumentError(
                    f"Sparse vector index {value['indices'][-1]} of metadata key '{key}' does not fit in u32"
                )


def _check_rows_convertible(rows: Any, argument: str) -> None:
    if isinstance(rows, list) and any(row.ndim != 1 for row in rows):
        raise TypeError(f"argument '{argument}': only 0-dimensional arrays can be converted to Python scalars")


def _check_metadatas_convertible(metadatas: list | None, op: str) -> None:
    """PyO3 conversion: ``None`` values are only an ``UpdateMetadataValue`` (upsert/update); an int
    too large for a float is neither."""
    update = op != "add"
    value_type = "UpdateMetadataValue" if update else "MetadataValue"
    for metadata in metadatas or ():
        if metadata is None:
            continue
        for value in metadata.values():
            if value is None and not update:
                raise TypeError("argument 'metadatas': Cannot convert Python object to MetadataValue")
            if isinstance(value, list) and any(_beyond_f64(x) for x in value):
                raise TypeError(f"argument 'metadatas': Cannot convert Python list to {value_type}: "
                                "mixed or unsupported element types")
            if _beyond_f64(value):  # PyO3 reads a huge int as neither i64 nor f64
                raise TypeError(f"argument 'metadatas': Cannot convert Python object to {value_type}")


def _beyond_f64(value: Any) -> bool:
    if not _beyond_i64(value):
        return False
    try:
        float(value)
    except OverflowError:
        return True
    return False


def _store_metadata_numbers(metadatas: list | None) -> None:
    """Numbers as Chroma 1.5.9 stores them, in place (the dicts are ours: see ``_normalize_metadatas``).

    - an int beyond int64 becomes a float (``2**70`` -> ``1.1805916207174113e+21``); in a list, every
      element does (Chroma's list is then a float list);
    - a NaN is not stored: the key is dropped (on update/upsert it removes the key, like ``None``),
      so no comparison ever matches it; a list holding one is refused (Chroma accepts it, then its
      log can no longer be read).
    Infinities are kept: they compare as they should (Chroma drops them too, which loses data).
    """
    for metadata in metadatas or ():
        if metadata is None:
            continue
        for key, value in metadata.items():
            if isinstance(value, list):
                if any(isinstance(x, float) and math.isnan(x) for x in value):
                    raise InvalidArgumentError(f"Metadata list value for key '{key}' holds NaN, which cannot be stored")
                if any(_beyond_i64(x) for x in value):
                    metadata[key] = [float(x) for x in value]
            elif isinstance(value, float) and math.isnan(value):
                metadata[key] = None
            elif _beyond_i64(value):
                metadata[key] = float(value)


def _beyond_i64(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and not I64_MIN <= value <= I64_MAX


def _check_strings_convertible(values: list | None, argument: str, allow_none: bool = False) -> None:
    for value in values or ():
        if not isinstance(value, str) and not (allow_none and value is None):
            raise TypeError(f"argument '{argument}': '{type(value).__name__}' object cannot be converted to 'PyString'")


def _non_finite_error(rows: Any) -> str | None:
    if rows is None:
        return None
    finite = np.isfinite(rows).all() if isinstance(rows, np.ndarray) else all(np.isfinite(r).all() for r in rows)
    return None if finite else "Embeddings must not contain NaN or Infinity values"


def _record_metadatas_error(metadatas: list | None) -> str | None:
    for i, metadata in enumerate(metadatas or ()):
        if metadata is not None and any(_metadata_key_error(k) for k in metadata):
            return f"Invalid metadata at index {i}"
    return None


def _raise_field_errors(errors: list[tuple[str, str | None]]) -> None:
    """Rust ``validator``'s message: one ``field: message`` line per failing field."""
    lines = [f"{field}: {message}" for field, message in errors if message]
    if lines:
        raise InvalidArgumentError("Validation error: " + "\n".join(lines))


def _check_dimensions(rows: Any, dimension: int | None) -> None:
    if rows is None:
        return
    if isinstance(rows, list):  # not a matrix and every row 1-D: ragged
        raise InvalidArgumentError("Inconsistent dimensions in provided embeddings")
    if dimension is not None and rows.shape[1] != dimension:
        raise InvalidArgumentError(f"Collection expecting embedding with dimension of {dimension}, got {rows.shape[1]}")


# --------------------------------------------------------------------------- get / delete / query arguments


def normalize_ids(op: Literal["get", "delete", "query"], ids: Any) -> list[str] | None:
    """One id becomes a list; get/delete validate (query ids are only checked by the engine)."""
    unpacked = _one_to_many(ids)
    if unpacked is not None and op != "query":
        _check_ids(unpacked)
    return unpacked


def check_include(include: Any, op: Literal["get", "query"], has_data_loader: bool = False) -> list[str]:
    """Chroma's ``validate_include``; returns a new list (with "uris" added for "data")."""
    if include is None:
        return list(DEFAULT_INCLUDE[op])
    if not isinstance(include, list):
        raise ValueError(f"Expected include to be a list, got {include}")
    for item in include:
        if not isinstance(item, str):
            raise ValueError(f"Expected include item to be a str, got {item}")
        if item not in INCLUDE_ITEMS:
            raise ValueError(f"Expected include item to be one of {', '.join(INCLUDE_ITEMS)}, got {item}")
        if op == "get" and item == "distances":
            raise ValueError(f"Include item cannot be one of distances, got {item}")
    if op == "get" and "data" in include and not has_data_loader:
        raise ValueError("You must set a data loader on the collection if loading from URIs.")
    if "data" in include and "uris" not in include:
        return [*include, "uris"]
    return list(include)


def check_n_results(n: Any) -> int:
    if not isinstance(n, int):
        raise ValueError(f"Expected requested number of results to be a int, got {n}")
    if n <= 0:
        raise TypeError(f"Number of requested results {n}, cannot be negative, or zero.")
    return int(n)


def check_limit_offset(limit: Any, offset: Any, op: Literal["get", "peek", "delete"]) -> tuple[int | None, int]:
    """Engine-side (PyO3 ``u32``) conversion of limit and offset; offset None means 0."""
    return _to_u32(limit, "limit"), _to_u32(offset, "offset") or 0


def _to_u32(value: Any, argument: str) -> int | None:
    if value is None:
        return None
    try:
        number = operator.index(value)
    except TypeError:
        kind = type(value).__name__
        raise TypeError(f"argument '{argument}': '{kind}' object cannot be interpreted as an integer") from None
    if not I64_MIN <= number <= I64_MAX:
        raise OverflowError("Python int too large to convert to C long")
    if not 0 <= number <= U32_MAX:
        raise OverflowError("out of range integral type conversion attempted")
    return number


def check_delete_args(ids: Any, where: Any, where_document: Any, limit: Any) -> None:
    """The start of Chroma's ``_validate_and_prepare_delete_request``."""
    if ids is None and where is None and where_document is None:
        raise ValueError("At least one of ids, where, or where_document must be provided")
    if limit is not None:
        if not isinstance(limit, int) or isinstance(limit, bool):
            raise TypeError("limit must be a non-negative integer")
        if limit < 0:
            raise ValueError("limit must be a non-negative integer")
        if where is None and where_document is None:
            raise ValueError("limit can only be specified when a where or where_document clause is provided")


@dataclass(frozen=True)
class QueryInputs:
    embeddings: Any  # 2-D float32 array, irregular rows (rejected by check_query_engine), or None
    documents: list | None
    images: list | None
    uris: list | None


def normalize_query(
    query_embeddings: Any = None, query_texts: Any = None, query_images: Any = None, query_uris: Any = None,
) -> QueryInputs:
    """Chroma's ``normalize_base_record_set`` + ``validate_base_record_set`` for query."""
    rows = normalize_embeddings(query_embeddings, matrix=True)
    fields = {
        "embeddings": rows,
        "documents": _one_to_many(query_texts),
        "images": _one_to_many(query_images),
        "uris": _one_to_many(query_uris),
    }
    _check_lengths(fields)
    if rows is not None:
        _check_embedding_rows(rows)
    if fields["documents"] is not None:
        _check_documents(fields["documents"], nullable=rows is not None)
    if fields["images"] is not None:
        _check_images(fields["images"])
    embeddings = None if rows is None else as_embedding_matrix(rows)
    return QueryInputs(embeddings, fields["documents"], fields["images"], fields["uris"])


def normalize_query_embeddings(query_embeddings: Any) -> np.ndarray | None:
    return None if query_embeddings is None else normalize_query(query_embeddings).embeddings


def check_query_embeddable(inputs: QueryInputs) -> None:
    """Run after include/n_results: texts, images or uris, exactly one, when no embeddings."""
    if inputs.embeddings is None:
        _exactly_one(vars(inputs), ("documents", "images", "uris"))


def check_query_engine(ids: list | None, embeddings: Any, n_results: int, dimension: int | None) -> np.ndarray:
    """Engine-side query checks (no NaN check: Chroma accepts NaN queries). Returns the matrix."""
    _check_strings_convertible(ids, "ids")
    rows = as_embedding_matrix(embeddings)
    _check_rows_convertible(rows, "query_embeddings")
    _to_u32(n_results, "n_results")
    _check_dimensions(rows, dimension)
    return rows


# --------------------------------------------------------------------------- names

_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]")


def check_collection_name(name: Any, field: str = "name") -> None:
    _check_string_argument(name, field)
    _raise_field_errors([(field, _name_error(name))])


def check_tenant_name(name: Any) -> None:
    _check_string_argument(name, "name")
    if len(name) < 3:
        found = f'[{{"value": String({_rust_str(name)}), "min": Number(3)}}]'
        raise InvalidArgumentError(f"Validation error: name: Validation error: length {found}")


def check_database_name(name: Any) -> None:
    _check_string_argument(name, "name")
    if len(name.encode()) < 3:
        raise InvalidArgumentError("database name must be at least 3 characters")


def _check_string_argument(value: Any, argument: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"argument '{argument}': '{type(value).__name__}' object cannot be converted to 'PyString'")


def _name_error(name: str) -> str | None:
    """Rust ``validate_name``, with its ``topology+name`` form."""
    if "+" in name:
        if len(name) > 512:
            return f"Expected a name containing 3-512 characters. Got: {len(name)}"
        topology, rest = name.split("+", 1)
        if "+" in rest:
            return "Expected a name to contain at most one topology:  Got two `+` characters."
        return _name_error(topology) or _name_error(rest)
    if not _NAME_RE.fullmatch(name):
        return (
            "Expected a name containing 3-512 characters from [a-zA-Z0-9._-], "
            f"starting and ending with a character in [a-zA-Z0-9]. Got: {name}"
        )
    if ".." in name:
        return f"Expected a name that does not contains two consecutive periods (..). Got {name}"
    if _is_ip_address(name):
        return f"Expected a name that is not a valid ip address. Got {name}"
    return None


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _rust_str(value: str) -> str:
    """A string as Rust's ``{:?}`` prints it (enough for messages)."""
    escapes = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    return '"' + "".join(escapes.get(ch, ch) for ch in value) + '"'


# --------------------------------------------------------------------------- collection metadata


_SPACE_CHANGE = "Changing the distance function of a collection once it is created is not supported currently."


def check_collection_metadata(metadata: Any) -> None:
    """Collection metadata at create time (Chroma does no Python-side check there)."""
    _check_collection_metadata_convertible(metadata, "metadata", update=False)
    _raise_field_errors([("metadata", _collection_metadata_error(metadata))])
    _check_collection_metadata_storable(metadata, "metadata")


def check_modify_metadata(metadata: Any) -> dict | None:
    """Python side of ``modify(metadata=...)``; returns what gets stored (it replaces, ``None`` values drop)."""
    if metadata is None:
        return None
    _check_metadata(metadata, sparse_dicts=False)
    if "hnsw:space" in metadata:
        raise ValueError(_SPACE_CHANGE)
    return {k: v for k, v in metadata.items() if v is not None} or None


def _check_collection_metadata_convertible(metadata: Any, argument: str, update: bool) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise TypeError(f"argument '{argument}': '{type(metadata).__name__}' object cannot be converted to 'PyDict'")
    for key, value in metadata.items():
        _check_string_argument(key, argument)
        if not (_is_collection_metadata_value(value) or (update and value is None)):
            value_type = "UpdateMetadataValue" if update else "MetadataValue"
            raise TypeError(f"argument '{argument}': Cannot convert Python object to {value_type}")


def _is_collection_metadata_value(value: Any) -> bool:
    return isinstance(value, (bool, str, int, float, list, np.integer, np.floating)) or _is_sparse(value)


def _collection_metadata_error(metadata: dict | None) -> str | None:
    if metadata is None:
        return None
    if len(metadata) == 0:
        return "Metadata cannot be empty"
    return next((e for e in map(_metadata_key_error, metadata) if e), None)


def _check_collection_metadata_storable(metadata: dict | None, field: str) -> None:
    """Our choice where Chroma panics (PanicException) when writing the value."""
    for key, value in (metadata or {}).items():
        if isinstance(value, list) or _is_sparse(value):
            kind = "a list" if isinstance(value, list) else "a sparse vector"
            raise InvalidArgumentError(
                f"Validation error: {field}: Collection metadata value for key '{key}' cannot be {kind}"
            )


# --------------------------------------------------------------------------- configuration

_HNSW_DEFAULTS = {
    "space": "l2", "ef_construction": 100, "ef_search": 100,
    "max_neighbors": 16, "resize_factor": 1.2, "sync_threshold": 1000,
}
_CREATE_HNSW = {
    "space": "space", "ef_construction": "usize", "ef_search": "usize", "max_neighbors": "usize",
    "num_threads": "usize", "resize_factor": "f64", "sync_threshold": "usize", "batch_size": "usize",
}
_CREATE_SPANN = {
    "search_nprobe": "usize", "write_nprobe": "usize", "space": "space", "ef_construction": "usize",
    "ef_search": "usize", "max_neighbors": "usize", "reassign_neighbor_count": "usize",
    "split_threshold": "usize", "merge_threshold": "usize",
}
_UPDATE_HNSW = {
    "ef_search": "usize", "max_neighbors": "usize", "num_threads": "usize",
    "resize_factor": "f64", "sync_threshold": "usize", "batch_size": "usize",
}
_UPDATE_SPANN = {"search_nprobe": "usize", "ef_search": "usize"}
_LEGACY_HNSW_KEYS = {
    "hnsw:space": "space", "hnsw:construction_ef": "ef_construction", "hnsw:search_ef": "ef_search",
    "hnsw:M": "max_neighbors", "hnsw:num_threads": "num_threads", "hnsw:resize_factor": "resize_factor",
    "hnsw:sync_threshold": "sync_threshold", "hnsw:batch_size": "batch_size",
}


def normalize_configuration(configuration: Any, metadata: Any, ef_default_space: str | None) -> dict:
    """The configuration a new collection gets: ``{"hnsw": {...}, "spann": None}`` (+ "nndescent").

    ``ef_default_space`` is the embedding function's ``default_space()``, None for no
    (or a legacy) embedding function. A "spann" section is accepted and becomes hnsw with
    its space, like single-node Chroma.
    """
    hnsw, spann = _create_sections(configuration, metadata, ef_default_space)
    return _resolve_configuration(hnsw, spann, metadata, configuration)


def _resolve_configuration(hnsw: Any, spann: Any, metadata: Any, configuration: Any) -> dict:
    """Rust side of create: parse the JSON sections, then the legacy ``hnsw:*`` metadata."""
    _parse_sections([
        ("hnsw", hnsw, _CREATE_HNSW, "HnswConfiguration"),
        ("spann", spann, _CREATE_SPANN, "SpannConfiguration"),
    ])
    legacy = _legacy_hnsw(metadata)
    if hnsw is not None:
        chosen = hnsw
    elif spann is not None:
        chosen = {"space": spann.get("space")}
    else:
        chosen = legacy
    return _with_extras({"hnsw": _hnsw_values(_HNSW_DEFAULTS, chosen), "spann": None}, configuration or {}, {})


def _create_sections(configuration: Any, metadata: Any, ef_default_space: str | None) -> tuple[Any, Any]:
    """Python side of ``create_collection``: the hnsw/spann sections it sends as JSON."""
    configuration = {} if configuration is None else configuration
    hnsw, spann = configuration.get("hnsw"), configuration.get("spann")
    if hnsw is not None and spann is not None:
        raise ValueError("hnsw and spann cannot both be provided")
    if ef_default_space is not None:
        if hnsw is None and spann is None and (metadata is None or metadata.get("hnsw:space") is None):
            hnsw = {"space": ef_default_space}
        if hnsw is not None and hnsw.get("space") is None:
            hnsw = {**hnsw, "space": ef_default_space}
        if spann is not None and spann.get("space") is None:
            spann = {**spann, "space": ef_default_space}
    return hnsw, spann


def _hnsw_values(base: dict, chosen: dict) -> dict:
    values = dict(base)
    values.update({k: v for k, v in chosen.items() if k in _HNSW_DEFAULTS and v is not None})
    values["resize_factor"] = float(values["resize_factor"])
    return values


def _with_extras(config: dict, source: dict, current: dict) -> dict:
    """Keep a top-level "nndescent" section (ours, not Chroma's); merge it on update."""
    if isinstance(source, dict) and source.get("nndescent") is not None:
        config["nndescent"] = {**(current.get("nndescent") or {}), **source["nndescent"]}
    return config


def _legacy_hnsw(metadata: Any) -> dict:
    """Rust ``from_legacy_segment_metadata``: the ``hnsw:*`` keys of collection metadata."""
    if not isinstance(metadata, dict):
        return {}
    params = {}
    for key, value in metadata.items():
        if not (isinstance(key, str) and key.startswith("hnsw:")):
            continue
        field = _LEGACY_HNSW_KEYS.get(key)
        if field is None or not _legacy_value_ok(_CREATE_HNSW[field], value):
            raise InvalidArgumentError("Failed to parse hnsw parameters from segment metadata")
        params[field] = value
    if params.get("sync_threshold", 2) < 2 or params.get("batch_size", 2) < 2:
        raise InvalidArgumentError("Failed to parse hnsw parameters from segment metadata")
    return params


def _legacy_value_ok(kind: str, value: Any) -> bool:
    if kind == "space":
        return value in SPACES
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    if kind == "f64":
        return True
    return isinstance(value, (int, np.integer)) and 0 <= value <= I64_MAX


def check_configuration_update(current: dict, update: Any, metadata_update: dict | None) -> dict:
    """``modify(configuration=...)``: the new configuration, or Chroma's error."""
    if metadata_update is not None and "hnsw:space" in metadata_update:
        raise ValueError(_SPACE_CHANGE)
    hnsw, spann = _parse_update_sections(update)
    return _apply_update(current, hnsw, spann, update)


def _apply_update(current: dict, hnsw: Any, spann: Any, update: Any) -> dict:
    if spann is not None:  # Chroma raises this after the (no-op) server update
        raise ValueError("Trying to update SPANN config but schema has HNSW")
    new = dict(current)
    if hnsw is not None:
        new["hnsw"] = _hnsw_values(current["hnsw"], hnsw)
    return _with_extras(new, update or {}, current)


def _parse_update_sections(update: Any) -> tuple[Any, Any]:
    if not update:
        return None, None
    hnsw, spann, ef = update.get("hnsw"), update.get("spann"), update.get("embedding_function")
    if hnsw is not None or spann is not None or ef is not None:
        _parse_sections([
            ("hnsw", hnsw, _UPDATE_HNSW, "UpdateHnswConfiguration"),
            ("spann", spann, _UPDATE_SPANN, "UpdateSpannConfiguration"),
        ])
    if hnsw is not None and spann is not None:
        raise InvalidArgumentError("Multiple vector index configurations provided")
    return hnsw, spann


def _parse_sections(sections: list[tuple[str, Any, dict[str, str], str]]) -> None:
    """Emulate serde_json reading Chroma's configuration JSON: its first error, with the column."""
    json.dumps([section for _, section, _, _ in sections])  # Chroma serialises first: same TypeError
    text = "{"
    for i, (name, section, fields, struct) in enumerate(sections):
        text += (", " if i else "") + json.dumps(name) + ": "
        if section is None:
            text += "null"
        elif not isinstance(section, dict):
            _serde_fail(f"invalid type: {_unexpected(section)}, expected struct {struct}", text, section)
        else:
            text = _parse_struct(section, fields, text + "{") + "}"


def _parse_struct(section: dict, fields: dict[str, str], text: str) -> str:
    for j, (key, value) in enumerate(section.items()):
        text += (", " if j else "") + json.dumps(str(key))
        if key not in fields:
            expected = _expected_fields(list(fields))
            raise InvalidArgumentError(f"unknown field `{key}`, {expected} at line 1 column {len(text)}")
        text += ": "
        _parse_value(value, fields[key], text)
        text += json.dumps(value)
    return text


def _parse_value(value: Any, kind: str, text: str) -> None:
    if value is None:
        return
    if kind == "space":
        if not isinstance(value, str):
            _serde_fail("expected value", text, value)
        if value not in SPACES:
            _serde_fail(f"unknown variant `{value}`, expected one of `l2`, `cosine`, `ip`", text, value)
        return
    if kind == "f64" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return
    if kind == "usize" and isinstance(value, int) and not isinstance(value, bool):
        if not I64_MIN <= value < 2**64:  # serde_json reads it as a float
            _serde_fail(f"invalid type: floating point `{float(value)!r}`, expected usize", text, value)
        if value < 0:
            _serde_fail(f"invalid value: integer `{value}`, expected usize", text, value)
        return
    _serde_fail(f"invalid type: {_unexpected(value)}, expected {kind}", text, value)


def _unexpected(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean `{json.dumps(value)}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value!r}`"
    if isinstance(value, str):
        return f"string {_rust_str(value)}"
    return "sequence" if isinstance(value, list) else "map"


def _serde_fail(message: str, text: str, value: Any) -> None:
    column = len(text) if isinstance(value, (list, dict)) else len(text) + len(json.dumps(value))
    raise InvalidArgumentError(f"{message} at line 1 column {column}")


def _expected_fields(fields: list[str]) -> str:
    names = [f"`{f}`" for f in fields]
    if len(names) == 1:
        return f"expected {names[0]}"
    if len(names) == 2:
        return f"expected {names[0]} or {names[1]}"
    return "expected one of " + ", ".join(names)


# --------------------------------------------------------------------------- whole collection calls


def prepare_create_collection(name: Any, metadata: Any, configuration: Any, ef_default_space: str | None) -> dict:
    """Every check of ``create_collection`` in Chroma's order; returns the configuration."""
    hnsw, spann = _create_sections(configuration, metadata, ef_default_space)
    json.dumps([hnsw, spann])  # Chroma serialises before calling its core: same TypeError
    _check_string_argument(name, "name")
    _check_collection_metadata_convertible(metadata, "metadata", update=False)
    config = _resolve_configuration(hnsw, spann, metadata, configuration)
    _raise_field_errors([("name", _name_error(name)), ("metadata", _collection_metadata_error(metadata))])
    _check_collection_metadata_storable(metadata, "metadata")
    return config


def prepare_modify_collection(current: dict, name: Any, metadata: Any, configuration: Any) -> tuple[dict | None, dict]:
    """Every check of ``Collection.modify`` in Chroma's order; returns (metadata to store, configuration)."""
    stored = check_modify_metadata(metadata)
    if name is not None:
        _check_string_argument(name, "new_name")
    _check_collection_metadata_convertible(metadata, "new_metadata", update=True)
    hnsw, spann = _parse_update_sections(configuration)
    _raise_field_errors([
        ("new_name", None if name is None else _name_error(name)),
        ("new_metadata", _collection_metadata_error(metadata)),
    ])
    _check_collection_metadata_storable(metadata, "new_metadata")
    return stored, _apply_update(current, hnsw, spann, configuration)
