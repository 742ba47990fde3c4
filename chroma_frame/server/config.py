"""Server settings. Precedence: command-line flags > config file > environment variables > defaults.

The config file is Chroma's server YAML (see :mod:`chroma_frame.server.config_file`); the
environment variables are Chroma's names (``ALLOW_RESET``, ``CHROMA_SERVER_AUTHN_*``,
``CHROMA_SERVER_CORS_ALLOW_ORIGINS``, ``CHROMA_OTEL_*``, ``PERSIST_DIRECTORY``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Mapping, Optional

DEFAULT_MAX_BODY_BYTES = 40 * 1024 * 1024  # Chroma's max_payload_size_bytes
DEFAULT_REQUEST_TIMEOUT = 60.0
REQUEST_TIMEOUT_ENV = "CHROMA_FRAME_REQUEST_TIMEOUT"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
_TRUE = {"1", "true", "yes", "on"}


@dataclass
class ServerConfig:
    """Everything ``chroma-frame run`` needs to serve one storage root."""

    path: str = "./chroma"
    host: str = "127.0.0.1"
    port: int = 8000
    allow_reset: bool = False
    auth_provider: Optional[str] = None  # "token" | "basic" | Chroma's provider class path
    auth_credentials: Optional[str] = None
    auth_credentials_file: Optional[str] = None
    token_header: Optional[str] = None  # "Authorization" | "X-Chroma-Token"; None accepts both
    max_batch_size: Optional[int] = None  # None: the library's own limit
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    cors_allow_origins: tuple[str, ...] = ()
    log_level: str = "warning"
    workers: int = 1  # server processes over the same root (reads scale, writes serialise per collection)
    # Seconds a read (get/query/search/count, their filters' DuckDB statements) may take before the
    # request is answered with an error and its filter interrupted; 0: no deadline. Writes have
    # none: they are bounded by the batch and body limits, and are never abandoned half-way.
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    # OpenTelemetry, under Chroma's settings names (see chroma_frame.server.telemetry): off
    # unless an endpoint is set; then it needs the `otel` extra.
    chroma_otel_collection_endpoint: Optional[str] = None
    chroma_otel_service_name: str = "chromadb"
    chroma_otel_collection_headers: dict[str, str] = field(default_factory=dict)
    chroma_otel_granularity: Optional[str] = None

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None, file_values: Optional[Mapping[str, object]] = None,
                 **flags: object) -> "ServerConfig":
        """Flags that are not None (nor False) win over ``file_values`` (a loaded config file),
        which win over the environment ``env`` (default ``os.environ``)."""
        values = env_values(os.environ if env is None else env)
        values.update(file_values or {})
        values.update({k: v for k, v in flags.items() if v is not None and v is not False})
        return cls(**values)  # type: ignore[arg-type]


def env_values(env: Mapping[str, str]) -> dict[str, object]:
    """The ServerConfig fields that Chroma's environment variables in ``env`` set."""
    values: dict[str, object] = {
        "allow_reset": env.get("ALLOW_RESET", "").strip().lower() in _TRUE,
        "auth_provider": env.get("CHROMA_SERVER_AUTHN_PROVIDER") or None,
        "auth_credentials": env.get("CHROMA_SERVER_AUTHN_CREDENTIALS") or None,
        "auth_credentials_file": env.get("CHROMA_SERVER_AUTHN_CREDENTIALS_FILE") or None,
        "token_header": env.get("CHROMA_AUTH_TOKEN_TRANSPORT_HEADER") or None,
    }
    timeout = env.get(REQUEST_TIMEOUT_ENV, "").strip()
    if timeout:
        try:
            values["request_timeout"] = max(0.0, float(timeout))
        except ValueError:
            raise ValueError(f"{REQUEST_TIMEOUT_ENV} must be a number of seconds, got {timeout!r}") from None
    origins = env.get("CHROMA_SERVER_CORS_ALLOW_ORIGINS")
    if origins:
        values["cors_allow_origins"] = parse_list(origins, "CHROMA_SERVER_CORS_ALLOW_ORIGINS")
    if env.get("PERSIST_DIRECTORY"):
        values["path"] = env["PERSIST_DIRECTORY"]
    for name in ("chroma_otel_collection_endpoint", "chroma_otel_service_name", "chroma_otel_granularity"):
        if env.get(name.upper(), "").strip():
            values[name] = env[name.upper()].strip()
    headers = env.get("CHROMA_OTEL_COLLECTION_HEADERS", "").strip()
    if headers:
        values["chroma_otel_collection_headers"] = parse_headers(headers, "CHROMA_OTEL_COLLECTION_HEADERS")
    return values


def parse_list(raw: str, name: str) -> tuple[str, ...]:
    """A JSON list of strings (how chromadb's pydantic Settings read list variables), or a
    comma-separated list."""
    raw = raw.strip()
    if raw.startswith("["):
        try:
            items = json.loads(raw)
        except json.JSONDecodeError:
            items = None  # `[a, b]` without quotes: read as a comma-separated list below
        if items is not None:
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise ValueError(f"{name} must be a JSON list of strings or a comma-separated list, got {raw!r}")
            return tuple(items)
        raw = raw.strip("[]")
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def parse_headers(raw: str, name: str) -> dict[str, str]:
    """A JSON object (chromadb's ``Dict[str, str]`` setting), or OpenTelemetry's ``k1=v1,k2=v2``."""
    raw = raw.strip()
    if raw.startswith("{"):
        try:
            headers = json.loads(raw)
        except json.JSONDecodeError as e:
            raise ValueError(f"{name} is not valid JSON: {e}") from None
        if not all(isinstance(v, str) for v in headers.values()):
            raise ValueError(f"{name} must map header names to strings, got {raw!r}")
        return dict(headers)
    pairs = [item.split("=", 1) for item in raw.split(",") if item.strip()]
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError(f"{name} must be a JSON object or name=value pairs separated by commas, got {raw!r}")
    return {k.strip(): v.strip() for k, v in pairs}
