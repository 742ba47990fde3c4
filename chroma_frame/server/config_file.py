"""Chroma's server config file (the YAML of ``chroma run CONFIG.yaml``) as ServerConfig values.

Chroma's keys that mean something here are mapped onto :class:`ServerConfig` fields; Chroma's keys
that do not (SQLite, sysdb, caches, distributed-mode settings) are ignored with one warning each;
any other key, or a value of the wrong type, is refused with an error naming the key.
chroma-frame's own server options may sit in the same file under their ServerConfig names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import yaml

from chroma_frame.server.config import LOG_LEVELS
from chroma_frame.server.telemetry import GRANULARITIES


class ConfigFileError(ValueError):
    """The config file cannot be read, or a key in it is unknown or has the wrong type."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check(test: Callable[[Any], bool], expected: str, convert: Callable[[Any], Any] = lambda v: v) -> Any:
    def check(key: str, value: object) -> Any:
        if not test(value):
            raise ConfigFileError(f"'{key}' must be {expected}, got {type(value).__name__} {value!r}")
        return convert(value)

    return check


_STR = _check(lambda v: isinstance(v, str) and v != "", "a non-empty string")
_BOOL = _check(lambda v: isinstance(v, bool), "true or false")
_PORT = _check(lambda v: _is_int(v) and 0 < v < 65536, "a port number (1-65535)")
_POSITIVE = _check(lambda v: _is_int(v) and v > 0, "a positive integer")
_SECONDS = _check(lambda v: (_is_int(v) or isinstance(v, float)) and v >= 0, "a number of seconds (0 or more)", float)
_STRINGS = _check(lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v), "a list of strings", tuple)
_HEADERS = _check(lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in (*v, *v.values())),
                  "a mapping of header names to strings", dict)


def _choice(options: tuple[str, ...]) -> Any:
    return _check(lambda v: v in options, "one of " + ", ".join(options))


# Chroma's keys (rust/frontend/src/config.rs) with a meaning here, and chroma-frame's own:
# key -> (ServerConfig field, check)
KEYS: dict[str, tuple[str, Any]] = {
    "persist_path": ("path", _STR),
    "listen_address": ("host", _STR),
    "port": ("port", _PORT),
    "max_payload_size_bytes": ("max_body_bytes", _POSITIVE),
    "cors_allow_origins": ("cors_allow_origins", _STRINGS),
    "allow_reset": ("allow_reset", _BOOL),
    # chroma-frame's own (Chroma's single-node server has no such keys)
    "workers": ("workers", _POSITIVE),
    "request_timeout": ("request_timeout", _SECONDS),
    "max_batch_size": ("max_batch_size", _POSITIVE),
    "log_level": ("log_level", _choice(LOG_LEVELS)),
    "auth_provider": ("auth_provider", _STR),
    "auth_credentials": ("auth_credentials", _STR),
    "auth_credentials_file": ("auth_credentials_file", _STR),
    "token_header": ("token_header", _choice(("Authorization", "X-Chroma-Token"))),
}
# open_telemetry: Chroma's endpoint and service_name; headers and granularity are chroma-frame's
# (Chroma's Python settings chroma_otel_collection_headers / chroma_otel_granularity)
OPEN_TELEMETRY_KEYS: dict[str, tuple[str, Any]] = {
    "endpoint": ("chroma_otel_collection_endpoint", _STR),
    "service_name": ("chroma_otel_service_name", _STR),
    "headers": ("chroma_otel_collection_headers", _HEADERS),
    "granularity": ("chroma_otel_granularity", _choice(GRANULARITIES)),
}
# Chroma's keys that have no meaning here: why each is ignored
IGNORED: dict[str, str] = {
    **dict.fromkeys(("sqlitedb", "sqlite_filename"), "chroma-frame keeps no SQLite database"),
    **dict.fromkeys(("sysdb", "mcmr_sysdb", "log", "executor", "segment_manager", "collections_with_segments_provider",
                     "circuit_breaker", "scorecard_enabled", "scorecard", "region", "enable_log_scouting",
                     "tenants_to_migrate_immediately", "tenants_to_migrate_immediately_threshold",
                     "min_records_for_invocation", "enable_span_indexing"),
                    "a setting of Chroma's own storage and distributed services"),
    **dict.fromkeys(("enable_transactions", "tenants_with_transactions_enabled", "tenants_with_quantization_enabled",
                     "tenants_with_maxscore_enabled", "tenants_with_token_bitmap_fts_enabled"),
                    "a per-tenant feature switch of Chroma's distributed service"),
    "default_knn_index": "collections choose their index through their configuration and schema",
    "enable_schema": "schemas are always on",
    "stdout_tracing": "server logs go to stderr (see --log-level)",
    "open_telemetry.filters": "spans are per request, with no per-crate filters",
}


@dataclass
class ConfigFile:
    """A loaded config file: ServerConfig values, and one warning per ignored Chroma key."""

    path: str
    values: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def load_config_file(path: str) -> ConfigFile:
    """Read and check ``path`` (``yaml.safe_load``); raise :class:`ConfigFileError` naming the key at fault."""
    if not os.path.isfile(path):
        raise ConfigFileError(f"Config file {path} does not exist")
    try:
        with open(path, encoding="utf-8") as f:
            document = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise ConfigFileError(f"{path} is not valid YAML: {e}") from None
    loaded = ConfigFile(path)
    try:
        _read(document or {}, KEYS, "", loaded)
    except ConfigFileError as e:
        raise ConfigFileError(f"{path}: {e}") from None
    return loaded


def _read(document: object, keys: Mapping[str, tuple[str, Any]], prefix: str, into: ConfigFile) -> None:
    if not isinstance(document, dict):
        raise ConfigFileError(f"'{prefix.rstrip('.') or 'the file'}' must be a mapping of keys to values, "
                              f"got {type(document).__name__}")
    for key, value in document.items():
        name = f"{prefix}{key}"
        if name == "open_telemetry":
            _read(value, OPEN_TELEMETRY_KEYS, "open_telemetry.", into)
            if "chroma_otel_collection_endpoint" not in into.values:
                raise ConfigFileError("'open_telemetry.endpoint' is required in 'open_telemetry'")
        elif key in keys:
            target, check = keys[key]
            into.values[target] = check(name, value)
        elif name in IGNORED:
            into.warnings.append(f"{into.path}: '{name}' ignored: {IGNORED[name]}")
        else:
            known = ", ".join(sorted(k for k in (*keys, *(["open_telemetry"] if not prefix else [])) if k))
            raise ConfigFileError(f"unknown key '{name}' (known: {known})")
