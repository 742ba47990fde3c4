"""Arguments of the read and delete verbs: ids, include, n_results, limit / offset, delete's
arguments, and query inputs (embeddings, texts, images, uris)."""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from chroma_frame.validation.records import (
    as_embedding_matrix,
    check_base_record_set,
    check_dimensions,
    check_ids,
    check_rows_convertible,
    exactly_one,
    normalize_embeddings,
    one_to_many,
)
from chroma_frame.validation.rust import I64_MAX, I64_MIN, U32_MAX, check_strings_convertible

INCLUDE_ITEMS = ("documents", "embeddings", "metadatas", "distances", "uris", "data")
DEFAULT_INCLUDE = {"get": ["metadatas", "documents"], "query": ["metadatas", "documents", "distances"]}
GET_INCLUDE: list = DEFAULT_INCLUDE["get"]  # the verbs' defaults (never mutated: check_include returns a copy)
QUERY_INCLUDE: list = DEFAULT_INCLUDE["query"]


def normalize_ids(op: Literal["get", "delete", "query"], ids: Any) -> list[str] | None:
    """One id becomes a list; get/delete validate (query ids are only checked by the engine)."""
    unpacked = one_to_many(ids)
    if unpacked is not None and op != "query":
        check_ids(unpacked)
    return unpacked


def check_include(include: Any, op: Literal["get", "query"], has_data_loader: bool = False) -> list[str]:
    """Chroma's ``validate_include``; returns a new list (with "uris" added for "data")."""
    if not isinstance(include, list):  # None too: Chroma's default is a list, an explicit None an error
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
        "documents": one_to_many(query_texts),
        "images": one_to_many(query_images),
        "uris": one_to_many(query_uris),
    }
    check_base_record_set(fields)
    embeddings = None if rows is None else as_embedding_matrix(rows)
    return QueryInputs(embeddings, fields["documents"], fields["images"], fields["uris"])


def normalize_query_embeddings(query_embeddings: Any) -> np.ndarray | None:
    return None if query_embeddings is None else normalize_query(query_embeddings).embeddings


def check_query_embeddable(inputs: QueryInputs) -> None:
    """Run after include/n_results: texts, images or uris, exactly one, when no embeddings."""
    if inputs.embeddings is None:
        exactly_one(vars(inputs), ("documents", "images", "uris"))


def check_query_engine(ids: list | None, embeddings: Any, n_results: int, dimension: int | None) -> np.ndarray:
    """Engine-side query checks (no NaN check: Chroma accepts NaN queries). Returns the matrix."""
    check_strings_convertible(ids, "ids")
    rows = as_embedding_matrix(embeddings)
    check_rows_convertible(rows, "query_embeddings")
    _to_u32(n_results, "n_results")
    check_dimensions(rows, dimension)
    return rows
