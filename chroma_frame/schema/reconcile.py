"""What the engine stores as a collection's schema: the user's JSON merged with Chroma's defaults.

Mirrors Chroma's Rust ``Schema::reconcile_schema_and_config`` for single-node (HNSW) collections:

* a non-default schema together with a non-default configuration is an error;
* the user's schema is merged field by field over the defaults (user values win, HNSW
  parameters are filled in, SPANN sections dropped);
* a default schema is replaced by one built from the configuration (space, HNSW parameters,
  embedding function);
* a non-default schema is the source of truth: the collection's ``configuration_json`` (which the
  search engine reads) is derived from its vector index.

Unlike single-node Chroma, a sparse vector index is accepted (Chroma answers "Sparse vector
indexing is not enabled in local"). Everything here works on JSON dicts; no embedding function
is built.
"""

from __future__ import annotations

import copy
import os
from typing import Any, Optional

from chroma_frame.errors import InvalidArgumentError
from chroma_frame.schema.keys import DOCUMENT_KEY, EMBEDDING_KEY

_HNSW_ORDER = ("ef_construction", "max_neighbors", "ef_search", "num_threads", "batch_size", "sync_threshold",
               "resize_factor")
_HNSW_DEFAULTS = {"ef_construction": 100, "max_neighbors": 16, "ef_search": 100, "batch_size": 100,
                  "sync_threshold": 1000, "resize_factor": 1.2}
_INDEXES = {
    "string": ("fts_index", "string_inverted_index"), "float_list": ("vector_index",),
    "sparse_vector": ("sparse_vector_index",), "int": ("int_inverted_index",), "float": ("float_inverted_index",),
    "bool": ("bool_inverted_index",),
}
_VALUE_TYPES = tuple(_INDEXES)
_CONFIG_FIELDS = {"vector_index": {"space", "embedding_function", "source_key", "hnsw", "spann"},
                  "sparse_vector_index": {"embedding_function", "source_key", "bm25"}}


def _default_hnsw() -> dict:
    return {k: (os.cpu_count() or 1) if k == "num_threads" else _HNSW_DEFAULTS[k] for k in _HNSW_ORDER}


def _vector_config(space: str, ef: Optional[dict], hnsw: dict, source_key: Optional[str] = None) -> dict:
    config: dict[str, Any] = {"space": space}
    if ef is not None:
        config["embedding_function"] = ef
    if source_key is not None:
        config["source_key"] = source_key
    config["hnsw"] = hnsw
    return config


def default_schema(ef: Optional[dict] = None, space: str = "l2", hnsw: Optional[dict] = None) -> dict:
    """Chroma's ``Schema::new_default`` (HNSW) with the given vector index settings."""
    hnsw = hnsw or _default_hnsw()
    index = lambda enabled: {"enabled": enabled, "config": {}}  # noqa: E731
    return {
        "defaults": {
            "string": {"fts_index": index(False), "string_inverted_index": index(True)},
            "float_list": {"vector_index": {"enabled": False, "config": _vector_config(space, ef, dict(hnsw))}},
            "sparse_vector": {"sparse_vector_index": {
                "enabled": False, "config": {"embedding_function": {"type": "unknown"}, "bm25": False}}},
            "int": {"int_inverted_index": index(True)},
            "float": {"float_inverted_index": index(True)},
            "bool": {"bool_inverted_index": index(True)},
        },
        "keys": {
            EMBEDDING_KEY: {"float_list": {"vector_index": {
                "enabled": True, "config": _vector_config(space, ef, dict(hnsw), DOCUMENT_KEY)}}},
            DOCUMENT_KEY: {"string": {"fts_index": index(True), "string_inverted_index": index(False)}},
        },
    }


def schema_from_configuration(configuration: dict) -> dict:
    """The schema of a collection created (or stored) without one: defaults + its configuration."""
    hnsw_config = configuration.get("hnsw") or {}
    hnsw = _default_hnsw()
    hnsw.update({k: v for k, v in hnsw_config.items() if k in hnsw and v is not None})
    return default_schema(configuration.get("embedding_function"), hnsw_config.get("space") or "l2", hnsw)


# -- is it the default? --------------------------------------------------------------------------------


def _ef_is_default(ef: Any) -> bool:
    if ef is None:
        return True
    kind = ef.get("type") if isinstance(ef, dict) else None
    return kind == "unknown" or (kind == "known" and ef.get("name") == "default")


def _hnsw_is_default(hnsw: Any) -> bool:
    return all(v is None or v == _default_hnsw()[k] for k, v in (hnsw or {}).items() if k in _HNSW_ORDER)


def configuration_is_default(configuration: dict) -> bool:
    """Rust ``InternalCollectionConfiguration::is_default`` over our stored configuration."""
    hnsw = dict(configuration.get("hnsw") or {})
    return (_ef_is_default(configuration.get("embedding_function")) and hnsw.pop("space", "l2") in (None, "l2")
            and _hnsw_is_default(hnsw))


def _index(value_types: dict, value_type: str, index: str) -> Optional[dict]:
    found = (value_types.get(value_type) or {}).get(index)
    return found if isinstance(found, dict) else None


def _vector_is_default(index: Optional[dict], enabled: bool, source_key: Optional[str]) -> bool:
    if index is None:
        return True
    config = index.get("config") or {}
    return (index.get("enabled", True) == enabled and _ef_is_default(config.get("embedding_function"))
            and config.get("space") in (None, "l2") and config.get("source_key") == source_key
            and not (config.get("hnsw") and config.get("spann"))
            and _hnsw_is_default(config.get("hnsw")) and not _spann_customised(config.get("spann")))


def _spann_customised(spann: Any) -> bool:
    return bool(spann) and any(v is not None for v in spann.values())


def is_default(schema: dict) -> bool:
    """Rust ``Schema::is_default``: only Chroma's default indexes, default vector settings."""
    defaults, keys = schema.get("defaults") or {}, schema.get("keys") or {}
    if any(k not in (EMBEDDING_KEY, DOCUMENT_KEY) for k in keys):
        return False
    enabled = lambda vt, t, i, default: (_index(vt, t, i) or {}).get("enabled", default) == default  # noqa: E731
    if not (enabled(defaults, "string", "string_inverted_index", True)
            and enabled(defaults, "string", "fts_index", False)
            and enabled(defaults, "float", "float_inverted_index", True)
            and enabled(defaults, "int", "int_inverted_index", True)
            and enabled(defaults, "bool", "bool_inverted_index", True)
            and _vector_is_default(_index(defaults, "float_list", "vector_index"), False, None)):
        return False
    sparse = _index(defaults, "sparse_vector", "sparse_vector_index")
    if sparse is not None:
        config = sparse.get("config") or {}
        if sparse.get("enabled", True) or not _ef_is_default(config.get("embedding_function")) \
                or config.get("source_key") is not None or config.get("bm25") not in (None, False):
            return False
    embedding = keys.get(EMBEDDING_KEY)
    if embedding is not None:
        if set(embedding) - {"float_list"}:
            return False
        if not _vector_is_default(_index(embedding, "float_list", "vector_index"), True, DOCUMENT_KEY):
            return False
    document = keys.get(DOCUMENT_KEY)
    if document is not None:
        if set(document) - {"string"}:
            return False
        if not (enabled(document, "string", "fts_index", True)
                and enabled(document, "string", "string_inverted_index", False)):
            return False
    return True


# -- shape ------------------------------------------------------------------------------------------


def _invalid(where: str, what: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"Invalid schema: {where}: {what}")


def check_shape(schema: Any) -> None:
    """Refuse schema JSON that Chroma's server would not deserialize (unknown fields, wrong types)."""
    if not isinstance(schema, dict):
        raise _invalid("schema", "expected an object")
    unknown = set(schema) - {"defaults", "keys", "cmek", "source_attached_function_id"}
    if unknown:
        raise _invalid("schema", f"unknown field `{sorted(unknown)[0]}`")
    _check_value_types("defaults", schema.get("defaults", {}))
    keys = schema.get("keys", {})
    if not isinstance(keys, dict):
        raise _invalid("keys", "expected an object")
    for key, value_types in keys.items():
        _check_value_types(f"keys.{key}", value_types)
    if schema.get("cmek") is not None and not isinstance(schema["cmek"], dict):
        raise _invalid("cmek", "expected an object")


def _check_value_types(where: str, value_types: Any) -> None:
    if not isinstance(value_types, dict):
        raise _invalid(where, "expected an object")
    for value_type, indexes in value_types.items():
        if value_type not in _INDEXES:
            raise _invalid(where, f"unknown value type `{value_type}`")
        if not isinstance(indexes, dict):
            raise _invalid(f"{where}.{value_type}", "expected an object")
        for name, index in indexes.items():
            at = f"{where}.{value_type}.{name}"
            if name not in _INDEXES[value_type]:
                raise _invalid(at, "unknown index")
            if not isinstance(index, dict) or not isinstance(index.get("enabled", True), bool) \
                    or not isinstance(index.get("config", {}), dict):
                raise _invalid(at, "expected {\"enabled\": bool, \"config\": object}")
            _check_config(at, index.get("config", {}), _CONFIG_FIELDS.get(name, set()))


def _check_config(at: str, config: dict, fields: set) -> None:
    unknown = set(config) - fields
    if unknown:
        raise _invalid(at, f"unknown field `{sorted(unknown)[0]}`")
    for field in ("embedding_function", "hnsw", "spann"):
        if config.get(field) is not None and not isinstance(config[field], dict):
            raise _invalid(f"{at}.{field}", "expected an object")
    if config.get("space") not in (None, "l2", "cosine", "ip"):
        raise _invalid(f"{at}.space", "expected one of `l2`, `cosine`, `ip`")
    if config.get("source_key") is not None and not isinstance(config["source_key"], str):
        raise _invalid(f"{at}.source_key", "expected a string")
    if config.get("bm25") is not None and not isinstance(config["bm25"], bool):
        raise _invalid(f"{at}.bm25", "expected a boolean")
    for name, value in (config.get("hnsw") or {}).items():
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if name not in _HNSW_ORDER or not (value is None or number):
            raise _invalid(f"{at}.hnsw", f"bad field `{name}`")


# -- merging ----------------------------------------------------------------------------------------


def _merge_vector_config(default: dict, user: dict) -> dict:
    out: dict[str, Any] = {}
    for field in ("space", "embedding_function", "source_key"):
        value = user.get(field) if user.get(field) is not None else default.get(field)
        if value is not None:
            out[field] = value
    hnsw = dict(default.get("hnsw") or {})
    hnsw.update({k: v for k, v in (user.get("hnsw") or {}).items() if v is not None})
    out["hnsw"] = hnsw
    return out


def _merge_value_types(default: dict, user: dict) -> dict:
    out = copy.deepcopy(default)
    for value_type, indexes in user.items():
        if value_type not in _VALUE_TYPES or not isinstance(indexes, dict):
            raise InvalidArgumentError(f"Invalid schema: unknown value type `{value_type}`")
        if value_type not in out:
            out[value_type] = copy.deepcopy(indexes)
            continue
        for name, index in indexes.items():
            if not isinstance(index, dict):
                raise InvalidArgumentError(f"Invalid schema: `{value_type}.{name}` is not an object")
            base = out[value_type].get(name)
            if base is None:
                out[value_type][name] = copy.deepcopy(index)
                continue
            config = index.get("config") or {}
            if name == "vector_index":
                config = _merge_vector_config(base.get("config") or {}, config)
            elif name == "sparse_vector_index":
                config = {**(base.get("config") or {}), **{k: v for k, v in config.items() if v is not None}}
            out[value_type][name] = {"enabled": index.get("enabled", True), "config": config}
    return out


def _without_spann(value_types: dict) -> dict:
    for index in (value_types.get("float_list") or {}).values():
        if isinstance(index, dict) and isinstance(index.get("config"), dict):
            index["config"].pop("spann", None)
            index["config"].setdefault("hnsw", _default_hnsw())
    return value_types


def merge_with_defaults(user: dict) -> dict:
    """Rust ``Schema::reconcile_with_defaults``: the user's schema over Chroma's defaults."""
    check_shape(user)
    base = default_schema()
    merged = {"defaults": _merge_value_types(base["defaults"], user.get("defaults") or {}), "keys": {}}
    keys = dict(base["keys"])
    for key, value_types in (user.get("keys") or {}).items():
        keys[key] = _merge_value_types(keys[key], value_types) if key in keys else _merge_value_types({}, value_types)
    merged["keys"] = {key: _without_spann(vt) if key == EMBEDDING_KEY else vt for key, vt in keys.items()}
    _without_spann(merged["defaults"])
    if user.get("cmek") is not None:
        merged["cmek"] = user["cmek"]
    _check_single_sparse_index(merged)
    return merged


def _check_single_sparse_index(schema: dict) -> None:
    enabled = [key for key, vt in schema["keys"].items()
               if (_index(vt, "sparse_vector", "sparse_vector_index") or {}).get("enabled")]
    if len(enabled) > 1:
        raise InvalidArgumentError(
            f"Only one sparse vector index allowed per collection. Key '{enabled[0]}' already has a sparse vector "
            "index. Remove it first or use that key."
        )


# -- the vector index <-> configuration ------------------------------------------------------------


def embedding_vector_config(schema: dict) -> dict:
    """The config of the vector index on ``#embedding`` (else the default one)."""
    index = _index((schema.get("keys") or {}).get(EMBEDDING_KEY) or {}, "float_list", "vector_index") \
        or _index(schema.get("defaults") or {}, "float_list", "vector_index") or {}
    return index.get("config") or {}


def configuration_from_schema(schema: dict, configuration: dict) -> dict:
    """``configuration_json`` following the schema's vector index (space, HNSW parameters, function)."""
    vector = embedding_vector_config(schema)
    hnsw = dict(configuration.get("hnsw") or {})
    hnsw["space"] = vector.get("space") or "l2"
    hnsw.update({k: v for k, v in (vector.get("hnsw") or {}).items() if k in hnsw and v is not None})
    return {**configuration, "hnsw": hnsw, "spann": None, "embedding_function": vector.get("embedding_function")}


def reconcile(user_schema: Optional[dict], configuration: dict) -> tuple[dict, dict]:
    """(schema to store, configuration to store) for a new collection."""
    config_default = configuration_is_default(configuration)
    if user_schema is None:
        return schema_from_configuration(configuration), configuration
    check_shape(user_schema)
    if not is_default(user_schema) and not config_default:
        raise InvalidArgumentError(
            "Failed to reconcile schema: Cannot set both collection config and schema simultaneously")
    merged = merge_with_defaults(user_schema)
    if not config_default:
        return schema_from_configuration(configuration), configuration
    if is_default(merged):
        return schema_from_configuration(configuration), configuration
    return merged, configuration_from_schema(merged, configuration)


def apply_configuration(schema: dict, configuration: dict) -> dict:
    """The schema after ``modify(configuration=...)``: its vector indexes follow the new configuration."""
    schema = copy.deepcopy(schema)
    hnsw = {k: v for k, v in (configuration.get("hnsw") or {}).items() if k != "space"}
    for value_types in (schema.get("defaults") or {}, (schema.get("keys") or {}).get(EMBEDDING_KEY) or {}):
        index = _index(value_types, "float_list", "vector_index")
        if index is None:
            continue
        config = index.setdefault("config", {})
        config.setdefault("hnsw", {}).update(hnsw)
        if configuration.get("embedding_function") is not None:
            config["embedding_function"] = configuration["embedding_function"]
    return schema


def sparse_index(schema: dict) -> Optional[tuple[str, dict]]:
    """(key, config JSON) of the enabled sparse vector index, if any."""
    for key, value_types in (schema.get("keys") or {}).items():
        index = _index(value_types, "sparse_vector", "sparse_vector_index")
        if index is not None and index.get("enabled"):
            return key, index.get("config") or {}
    return None


__all__ = [
    "apply_configuration", "configuration_from_schema", "configuration_is_default", "default_schema",
    "embedding_vector_config", "is_default", "merge_with_defaults", "reconcile", "schema_from_configuration",
    "sparse_index",
]
