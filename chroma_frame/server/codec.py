"""Wire formats: base64 embeddings in, library results out as Chroma's JSON (orjson)."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any, Optional, Sequence

import numpy as np
import orjson

from chroma_frame.collection_model import CollectionModel
from chroma_frame.errors import InvalidArgumentError

_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def _default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> bytes:
    """JSON bytes; numpy arrays are written as (f32-exact) number lists."""
    return orjson.dumps(value, default=_default, option=_JSON_OPTIONS)


def _decode_row(text: str) -> np.ndarray:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidArgumentError(f"Invalid base64 string: {e}") from None
    if len(raw) % 4:
        raise InvalidArgumentError("Invalid base64 embedding: byte length is not a multiple of 4")
    return np.frombuffer(raw, dtype="<f4")


def decode_embeddings(rows: Optional[Sequence[Any]]) -> Any:
    """Embeddings as they arrive (float lists or base64 strings, maybe null for update) -> arrays.

    Returns one 2-D float32 matrix when every row is present and of one length (the common case),
    otherwise a list of 1-D arrays / None for the library to judge.
    """
    if rows is None:
        return None
    decoded = [None if r is None else _as_row(r) for r in rows]
    present = [r for r in decoded if r is not None]
    if decoded and len(present) == len(decoded) and len({len(r) for r in present}) == 1:
        return np.stack(present)
    return decoded


def _as_row(row: Any) -> np.ndarray:
    if isinstance(row, str):
        return _decode_row(row)
    with np.errstate(over="ignore"):  # beyond f32: inf, which the library rejects
        return np.asarray(row, dtype=np.float32)


def query_matrix(rows: list[list[float]]) -> Any:
    """``query_embeddings`` (always float lists) as a float32 matrix, or a ragged list of rows."""
    if not rows:
        return []
    with np.errstate(over="ignore"):
        if len({len(r) for r in rows}) == 1:
            return np.asarray(rows, dtype=np.float32)
        return [np.asarray(r, dtype=np.float32) for r in rows]


def _f32(values: Any) -> Any:
    return None if values is None else np.asarray(values, dtype=np.float32)


def _matrix(emb: Any) -> Any:
    if emb is None:
        return None
    if isinstance(emb, np.ndarray):
        return np.ascontiguousarray(emb, dtype=np.float32)
    return [_f32(row) for row in emb]


def get_response(result: dict[str, Any], include: Sequence[str]) -> dict[str, Any]:
    """A library ``GetResult`` as Chroma's ``GetResponse``."""
    return {
        "ids": result["ids"],
        "embeddings": _matrix(result.get("embeddings")),
        "documents": result.get("documents"),
        "uris": result.get("uris"),
        "metadatas": result.get("metadatas"),
        "include": list(include),
    }


def query_response(result: dict[str, Any], include: Sequence[str]) -> dict[str, Any]:
    """A library ``QueryResult`` as Chroma's ``QueryResponse`` (distances as f32, like Chroma)."""
    embeddings = result.get("embeddings")
    distances = result.get("distances")
    return {
        "ids": result["ids"],
        "embeddings": None if embeddings is None else [_matrix(e) for e in embeddings],
        "documents": result.get("documents"),
        "uris": result.get("uris"),
        "metadatas": result.get("metadatas"),
        "distances": None if distances is None else [_f32(d) for d in distances],
        "include": list(include),
    }


def collection_json(model: CollectionModel) -> dict[str, Any]:
    """A library collection model as Chroma's ``Collection`` JSON."""
    return {
        "id": str(model.id),
        "name": model.name,
        "configuration_json": model.configuration_json or {},
        "schema": model.serialized_schema,
        "metadata": model.metadata,
        "dimension": model.dimension,
        "tenant": model.tenant,
        "database": model.database,
        "log_position": model.log_position,
        "version": model.version,
    }


def database_json(db: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(db["id"]), "name": db["name"], "tenant": db["tenant"]}
