"""Record sets (add / upsert / update): ids, embeddings, metadata, documents, images, uris.

Python side (``chromadb/api/types.py``, run inside ``validation_context``): :func:`normalize_records`.
Engine side (Chroma's Rust core, no suffix): :func:`check_records_engine`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from chroma_frame.base_types import check_sparse_vector
from chroma_frame.errors import DuplicateIDError, InternalError, InvalidArgumentError
from chroma_frame.validation.rust import I64_MAX, I64_MIN, U32_MAX, check_strings_convertible, raise_field_errors

MAX_BATCH_SIZE = 5461
RESERVED_METADATA_KEY = "chroma:document"
SPARSE_TYPE_KEY, SPARSE_TYPE_VALUE = "#type", "sparse_vector"

_EMBEDDING_DTYPES = [np.float16, np.float32, np.float64, np.int32, np.int64]

Op = Literal["add", "upsert", "update"]


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
        "ids": one_to_many(ids),
        "metadatas": _normalize_metadatas(metadatas),
        "embeddings": rows,
        "documents": one_to_many(documents),
        "images": one_to_many(images),
        "uris": one_to_many(uris),
    }
    check_base_record_set(fields)
    check_ids(fields["ids"])
    for metadata in fields["metadatas"] or ():
        check_metadata(metadata)
    _check_embeddable(op, fields)
    return RecordSet(
        ids=fields["ids"], embeddings=None if rows is None else as_embedding_matrix(rows),
        metadatas=fields["metadatas"], documents=fields["documents"], uris=fields["uris"],
        images=fields["images"], op=op,
    )


def check_base_record_set(fields: dict[str, Any]) -> None:
    """Chroma's ``validate_base_record_set`` on normalised ``fields`` (records or query inputs):
    lengths, embedding rows, documents (None allowed beside embeddings), images."""
    rows = fields["embeddings"]
    _check_lengths(fields)
    if rows is not None:
        check_embedding_rows(rows)
    if fields["documents"] is not None:
        _check_documents(fields["documents"], nullable=rows is not None)
    if fields["images"] is not None:
        _check_images(fields["images"])


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


def one_to_many(value: Any) -> list | None:
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

def check_embedding_rows(rows: Any) -> None:
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


def is_document(target: Any) -> bool:
    """Chroma's ``is_document``: a str."""
    return isinstance(target, str)


def is_image(target: Any) -> bool:
    """Chroma's ``is_image``: a numpy array of at least two dimensions."""
    return isinstance(target, np.ndarray) and target.ndim >= 2


def _check_documents(documents: list, nullable: bool) -> None:
    for document in documents:
        if document is None and nullable:
            continue
        if not is_document(document):
            raise ValueError(f"Expected document to be a str, got {document}")


def _check_images(images: list) -> None:
    for image in images:
        if not is_image(image):
            raise ValueError(f"Expected image to be a numpy array, got {image}")


def check_ids(ids: Any) -> None:
    """Chroma's ``validate_ids`` (same set iteration, so the same duplicate listing)."""
    if not isinstance(ids, list):
        raise ValueError(f"Expected IDs to be a list, got {type(ids).__name__} as IDs")
    if len(ids) == 0:
        raise ValueError(f"Expected IDs to be a non-empty list, got {len(ids)} IDs")
    seen: set[str] = set()
    dups: set[str] = set()
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
        exactly_one(fields, ("documents", "images", "uris"))
    elif op == "upsert" or fields["documents"] is not None or fields["images"] is not None:
        exactly_one(fields, ("documents", "images"))


def exactly_one(fields: dict[str, Any], names: tuple[str, ...]) -> None:
    """Chroma lists a Python set here, in an order that varies by process; ours is fixed."""
    if sum(fields[name] is not None for name in names) != 1:
        raise ValueError(f"Exactly one of {', '.join(names)} must be provided")


# --------------------------------------------------------------------------- record metadata


def _normalize_metadatas(metadatas: Any) -> list | None:
    """Chroma's ``normalize_metadatas``: new dicts, sparse vectors validated (kept as dicts)."""
    unpacked = one_to_many(metadatas)
    if unpacked is None:
        return None
    return [None if m is None else {k: _normalize_sparse(v) for k, v in m.items()} for m in unpacked]


def is_sparse(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SPARSE_TYPE_KEY) == SPARSE_TYPE_VALUE


def _normalize_sparse(value: Any) -> Any:
    if type(value).__name__ == "SparseVector" and hasattr(value, "to_dict"):
        value = value.to_dict()
    if is_sparse(value):
        check_sparse_vector(value["indices"], value["values"], value.get("tokens"))
    return value


def check_metadata(metadata: Any, sparse_dicts: bool = True) -> None:
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
        if (sparse_dicts and is_sparse(value)) or type(value).__name__ == "SparseVector":
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


def metadata_key_error(key: str) -> str | None:
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
    check_rows_convertible(records.embeddings, "embeddings")
    _check_metadatas_convertible(records.metadatas, records.op)
    if client_batch:
        _store_metadata_numbers(records.metadatas)
    check_strings_convertible(records.uris, "uris", allow_none=True)
    if client_batch and len(records.ids) > MAX_BATCH_SIZE:
        raise InternalError(
            f"ValueError: Batch size of {len(records.ids)} is greater than max batch size of {MAX_BATCH_SIZE}"
        )
    raise_field_errors([
        ("embeddings", _non_finite_error(records.embeddings)),
        ("metadatas", _record_metadatas_error(records.metadatas)),
    ])
    check_dimensions(records.embeddings, dimension)
    if any(id_ == "" for id_ in records.ids):
        raise InvalidArgumentError("Empty ID, ID must have at least one character")
    if client_batch:
        check_sparse_index_range(records.metadatas)


def check_records_ingest(records: RecordSet, dimension: int | None) -> None:
    """:func:`check_records_engine` for bulk ingest (no client batch limit)."""
    check_records_engine(records, dimension, client_batch=False)


def check_sparse_index_range(metadatas: list | None) -> None:
    """Sparse indices are u32 in Chroma's engine (and in our storage); larger ones are refused."""
    for metadata in metadatas or ():
        for key, value in (metadata or {}).items():
            if is_sparse(value) and value["indices"] and value["indices"][-1] > U32_MAX:
                raise InvalidArgumentError(
                    f"Sparse vector index {value['indices'][-1]} of metadata key '{key}' does not fit in u32"
                )


def check_rows_convertible(rows: Any, argument: str) -> None:
    """PyO3 reading embedding rows: each must be 1-D."""
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


def _non_finite_error(rows: Any) -> str | None:
    if rows is None:
        return None
    finite = np.isfinite(rows).all() if isinstance(rows, np.ndarray) else all(np.isfinite(r).all() for r in rows)
    return None if finite else "Embeddings must not contain NaN or Infinity values"


def _record_metadatas_error(metadatas: list | None) -> str | None:
    for i, metadata in enumerate(metadatas or ()):
        if metadata is not None and any(metadata_key_error(k) for k in metadata):
            return f"Invalid metadata at index {i}"
    return None


def check_dimensions(rows: Any, dimension: int | None) -> None:
    """Every row has the collection's dimension, and rows are not ragged (Chroma's messages)."""
    if rows is None:
        return
    if isinstance(rows, list):  # not a matrix and every row 1-D: ragged
        raise InvalidArgumentError("Inconsistent dimensions in provided embeddings")
    if dimension is not None and rows.shape[1] != dimension:
        raise InvalidArgumentError(f"Collection expecting embedding with dimension of {dimension}, got {rows.shape[1]}")
