"""Settings with Chroma's field names, and the default tenant and database."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any

DEFAULT_TENANT = "default_tenant"
DEFAULT_DATABASE = "default_database"

_TRUE = {"1", "true", "yes", "on"}
INDEX_BUILD_POLICIES = {"background", "manual"}


@dataclass
class Settings:
    """Client settings; each field can also come from an environment variable of the same name
    (upper case), as in Chroma (``ALLOW_RESET=TRUE``, ``PERSIST_DIRECTORY=...``)."""

    environment: str = ""
    chroma_api_impl: str = "chroma_frame.api.local"
    is_persistent: bool = False
    persist_directory: str = "./chroma"
    allow_reset: bool = False
    anonymized_telemetry: bool = False
    chroma_server_host: str | None = None
    chroma_server_http_port: int | None = None
    chroma_server_ssl_enabled: bool | None = False
    chroma_server_ssl_verify: bool | str | None = None
    chroma_server_headers: dict[str, str] | None = None
    chroma_server_cors_allow_origins: list[str] = field(default_factory=list)
    chroma_client_auth_provider: str | None = None
    chroma_client_auth_credentials: str | None = None
    chroma_auth_token_transport_header: str | None = None
    chroma_server_authn_provider: str | None = None
    chroma_server_authn_credentials: str | None = None
    chroma_server_authn_credentials_file: str | None = None
    chroma_overwrite_singleton_tenant_database_access_from_auth: bool = False
    chroma_http_keepalive_secs: float | None = 40.0
    chroma_http_max_connections: int | None = None
    chroma_segment_cache_policy: str | None = None
    # chroma-frame's own knobs
    compaction_threshold_rows: int = 50_000
    # when the search graphs of new blockfiles are built: "background" (a thread of this process,
    # at once) or "manual" (only by collection.build_index(), wait_for_index() or `chroma-frame index`)
    index_build_policy: str = "background"
    durable: bool = True
    # object storage (persist_directory "s3://bucket/prefix"); unset: the AWS environment variables
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_cache_dir: str | None = None  # local copies of immutable objects (default: under $XDG_CACHE_HOME)
    s3_cache_bytes: int | None = None  # their bound (default: $CHROMA_FRAME_CACHE_BYTES or 10 GiB; 0: no cache)
    # seconds a read may reuse the last check for other processes' commits (0: every read checks:
    # one or two existence checks, which on object storage are requests); this process's own
    # writes are always visible
    refresh_interval: float = 0.0
    # seconds a superseded version stays readable (as_of, restore, fork) before the sweep that
    # follows each compaction deletes it; 0 keeps only the current version
    history_retention: float = 7 * 86400.0
    # where the default embedding model lives (else $CHROMA_FRAME_MODEL_DIR, else ~/.cache/chroma_frame/models)
    chroma_frame_model_dir: str | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            raw = os.environ.get(f.name.upper())
            if raw is None or getattr(self, f.name) != f.default:
                continue
            setattr(self, f.name, _coerce(raw, f.default))
        if self.index_build_policy not in INDEX_BUILD_POLICIES:
            raise ValueError(f"index_build_policy must be one of {sorted(INDEX_BUILD_POLICIES)}, "
                             f"got {self.index_build_policy!r}")

    def require(self, key: str) -> Any:
        value = getattr(self, key)
        if value is None:
            raise ValueError(f"Missing required config value '{key}'")
        return value

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


def _coerce(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in _TRUE
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw
