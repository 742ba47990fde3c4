"""Collection metadata and configuration: what ``create_collection`` and ``modify`` accept.

The checks of those two calls in Chroma's order, Python side and Rust side (serde reading the
configuration JSON, the ``validator`` crate on name and metadata). What a configuration means for
the index schema is ``chroma_frame.schema``'s business; this module only says what is accepted.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from chroma_frame.errors import InvalidArgumentError
from chroma_frame.validation.names import name_error
from chroma_frame.validation.records import check_metadata, is_sparse, metadata_key_error
from chroma_frame.validation.rust import I64_MAX, I64_MIN, check_string_argument, raise_field_errors, rust_str

SPACES = ("l2", "cosine", "ip")


# --------------------------------------------------------------------------- collection metadata


_SPACE_CHANGE = "Changing the distance function of a collection once it is created is not supported currently."


def check_collection_metadata(metadata: Any) -> None:
    """Collection metadata at create time (Chroma does no Python-side check there)."""
    _check_collection_metadata_convertible(metadata, "metadata", update=False)
    raise_field_errors([("metadata", _collection_metadata_error(metadata))])
    _check_collection_metadata_storable(metadata, "metadata")


def check_modify_metadata(metadata: Any) -> dict | None:
    """Python side of ``modify(metadata=...)``; returns what gets stored (it replaces, ``None`` values drop)."""
    if metadata is None:
        return None
    check_metadata(metadata, sparse_dicts=False)
    if "hnsw:space" in metadata:
        raise ValueError(_SPACE_CHANGE)
    return {k: v for k, v in metadata.items() if v is not None} or None


def _check_collection_metadata_convertible(metadata: Any, argument: str, update: bool) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise TypeError(f"argument '{argument}': '{type(metadata).__name__}' object cannot be converted to 'PyDict'")
    for key, value in metadata.items():
        check_string_argument(key, argument)
        if not (_is_collection_metadata_value(value) or (update and value is None)):
            value_type = "UpdateMetadataValue" if update else "MetadataValue"
            raise TypeError(f"argument '{argument}': Cannot convert Python object to {value_type}")


def _is_collection_metadata_value(value: Any) -> bool:
    return isinstance(value, (bool, str, int, float, list, np.integer, np.floating)) or is_sparse(value)


def _collection_metadata_error(metadata: dict | None) -> str | None:
    if metadata is None:
        return None
    if len(metadata) == 0:
        return "Metadata cannot be empty"
    return next((e for e in map(metadata_key_error, metadata) if e), None)


def _check_collection_metadata_storable(metadata: dict | None, field: str) -> None:
    """Our choice where Chroma panics (PanicException) when writing the value."""
    for key, value in (metadata or {}).items():
        if isinstance(value, list) or is_sparse(value):
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
    hnsw, spann = create_sections(configuration, metadata, ef_default_space)
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


def create_sections(configuration: Any, metadata: Any, ef_default_space: str | None) -> tuple[Any, Any]:
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
    return isinstance(value, (int, np.integer)) and bool(0 <= value <= I64_MAX)


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
        return f"string {rust_str(value)}"
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
    hnsw, spann = create_sections(configuration, metadata, ef_default_space)
    json.dumps([hnsw, spann])  # Chroma serialises before calling its core: same TypeError
    check_string_argument(name, "name")
    _check_collection_metadata_convertible(metadata, "metadata", update=False)
    config = _resolve_configuration(hnsw, spann, metadata, configuration)
    raise_field_errors([("name", name_error(name)), ("metadata", _collection_metadata_error(metadata))])
    _check_collection_metadata_storable(metadata, "metadata")
    return config


def prepare_modify_collection(current: dict, name: Any, metadata: Any, configuration: Any) -> tuple[dict | None, dict]:
    """Every check of ``Collection.modify`` in Chroma's order; returns (metadata to store, configuration)."""
    stored = check_modify_metadata(metadata)
    if name is not None:
        check_string_argument(name, "new_name")
    _check_collection_metadata_convertible(metadata, "new_metadata", update=True)
    hnsw, spann = _parse_update_sections(configuration)
    raise_field_errors([
        ("new_name", None if name is None else name_error(name)),
        ("new_metadata", _collection_metadata_error(metadata)),
    ])
    _check_collection_metadata_storable(metadata, "new_metadata")
    return stored, _apply_update(current, hnsw, spann, configuration)
