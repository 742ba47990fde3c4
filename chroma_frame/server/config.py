"""Server settings: command-line flags first, then Chroma's environment variable names."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Optional

DEFAULT_MAX_BODY_BYTES = 40 * 1024 * 1024  # Chroma's max_payload_size_bytes
DEFAULT_REQUEST_TIMEOUT = 60.0
REQUEST_TIMEOUT_ENV = "CHROMA_FRAME_REQUEST_TIMEOUT"
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

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None, **flags: object) -> "ServerConfig":
        """Flags that are not None win over ``CHROMA_SERVER_AUTHN_*``, ``ALLOW_RESET`` and friends."""
        env = os.environ if env is None else env
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
            values["cors_allow_origins"] = tuple(o.strip() for o in origins.strip("[]").split(",") if o.strip())
        if env.get("PERSIST_DIRECTORY"):
            values["path"] = env["PERSIST_DIRECTORY"]
        values.update({k: v for k, v in flags.items() if v is not None and v is not False})
        return cls(**values)  # type: ignore[arg-type]
