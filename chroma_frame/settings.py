"""``Settings``: chromadb 1.5.9's pydantic-settings model (its fields, validators and
``model_config``), plus chroma-frame's own fields, which follow the same rules.

Values come, highest first, from keyword arguments, the environment (the field name in any case,
``ALLOW_RESET=TRUE``), a ``.env`` file in the working directory, then the defaults; environment
values are parsed as pydantic does (JSON for lists and dicts, ``true``/``1``/``yes`` for booleans);
unknown keyword arguments are ignored. Loaded on first use (``chroma_frame.config`` re-exports it):
importing pydantic-settings costs about 0.1 s.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Dict, List, Literal, Optional, Union

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

INDEX_BUILD_POLICIES = {"background", "manual"}

# chroma_api_impl values: Chroma's in-process ones (served by chroma-frame's engine here) and its HTTP ones
RUST_API = "chromadb.api.rust.RustBindingsAPI"
IN_PROCESS_APIS = (RUST_API, "chromadb.api.segment.SegmentAPI", "chroma_frame.api.local")
HTTP_API = "chromadb.api.fastapi.FastAPI"
ASYNC_HTTP_API = "chromadb.api.async_fastapi.AsyncFastAPI"

LEGACY_CONFIG_VALUES = {
    "duckdb", "duckdb+parquet", "clickhouse", "local", "rest", "chromadb.db.duckdb.DuckDB",
    "chromadb.db.duckdb.PersistentDuckDB", "chromadb.db.clickhouse.Clickhouse", "chromadb.api.local.LocalAPI",
}
LEGACY_ERROR = """\033[91mYou are using a deprecated configuration of Chroma.

\033[94mIf you do not have data you wish to migrate, you only need to change how you construct
your Chroma client. Please see the "New Clients" section of https://docs.trychroma.com/deployment/migration.
________________________________________________________________________________________________

If you do have data you wish to migrate, we have a migration tool you can use in order to
migrate your data to the new Chroma architecture.
Please `pip install chroma-migrate` and run `chroma-migrate` to migrate your data and then
change how you construct your Chroma client.

See https://docs.trychroma.com/deployment/migration for more information or join our discord at \
https://discord.gg/MMeYNTmh3x for help!\033[0m"""


def api_mode(settings: "Settings") -> Literal["local", "http", "async_http"]:
    """How ``Client(settings)`` serves ``settings.chroma_api_impl``; Chroma's errors for the rest."""
    impl = settings.chroma_api_impl
    if impl is None:
        raise ValueError("Chroma API implementation must be set in settings")
    if impl not in IN_PROCESS_APIS + (HTTP_API, ASYNC_HTTP_API):
        raise ValueError(f"Unsupported Chroma API implementation {impl}")
    if settings.chroma_db_impl is not None:
        raise ValueError(LEGACY_ERROR)
    if impl in IN_PROCESS_APIS:
        return "local"
    settings.require("chroma_server_host")
    settings.require("chroma_server_http_port")
    return "http" if impl == HTTP_API else "async_http"


class APIVersion(str, Enum):
    V1 = "/api/v1"
    V2 = "/api/v2"


class RoutingMode(Enum):
    """Routing mode of Chroma's distributed segment directory (kept for its field)."""

    NODE = "node"
    ID = "id"


class Settings(BaseSettings):
    """Client and server settings with Chroma's names; see the module docstring for where values come from."""

    # -- Chroma's fields (chromadb/config.py, same types and defaults) --------------------------------
    environment: str = ""
    # "chromadb.api.rust.RustBindingsAPI" / "chromadb.api.segment.SegmentAPI" (in-process: chroma-frame's
    # engine), "chromadb.api.fastapi.FastAPI" (an HTTP client of chroma_server_host:chroma_server_http_port)
    chroma_api_impl: str = RUST_API
    chroma_server_nofile: Optional[int] = None
    chroma_server_thread_pool_size: int = 40

    tenant_id: str = "default"
    topic_namespace: str = "default"

    chroma_server_host: Optional[str] = None
    chroma_server_headers: Optional[Dict[str, str]] = None
    chroma_server_http_port: Optional[int] = None
    chroma_server_ssl_enabled: Optional[bool] = False
    chroma_server_ssl_verify: Optional[Union[bool, str]] = None
    chroma_server_api_default_path: Optional[APIVersion] = APIVersion.V2
    chroma_server_cors_allow_origins: List[str] = []

    chroma_http_keepalive_secs: Optional[float] = 40.0
    chroma_http_max_connections: Optional[int] = None
    chroma_http_max_keepalive_connections: Optional[int] = None

    is_persistent: bool = False
    persist_directory: str = "./chroma"
    chroma_memory_limit_bytes: int = 0
    chroma_segment_cache_policy: Optional[str] = None
    allow_reset: bool = False

    chroma_auth_token_transport_header: Optional[str] = None
    chroma_client_auth_provider: Optional[str] = None
    chroma_client_auth_credentials: Optional[str] = None
    chroma_server_auth_ignore_paths: Dict[str, List[str]] = {
        f"{APIVersion.V2}": ["GET"],
        f"{APIVersion.V2}/heartbeat": ["GET"],
        f"{APIVersion.V2}/version": ["GET"],
        f"{APIVersion.V1}": ["GET"],
        f"{APIVersion.V1}/heartbeat": ["GET"],
        f"{APIVersion.V1}/version": ["GET"],
    }
    chroma_overwrite_singleton_tenant_database_access_from_auth: bool = False
    chroma_server_authn_provider: Optional[str] = None
    chroma_server_authn_credentials: Optional[str] = None
    chroma_server_authn_credentials_file: Optional[str] = None
    chroma_server_authz_provider: Optional[str] = None
    chroma_server_authz_config: Optional[str] = None
    chroma_server_authz_config_file: Optional[str] = None

    chroma_product_telemetry_impl: str = "chromadb.telemetry.product.posthog.Posthog"
    chroma_telemetry_impl: str = chroma_product_telemetry_impl
    anonymized_telemetry: bool = False  # Chroma's default is True; chroma-frame sends no telemetry
    chroma_otel_collection_endpoint: Optional[str] = ""
    chroma_otel_service_name: Optional[str] = "chromadb"
    chroma_otel_collection_headers: Dict[str, str] = {}
    chroma_otel_granularity: Optional[str] = None

    migrations: Literal["none", "validate", "apply"] = "apply"
    migrations_hash_algorithm: Literal["md5", "sha256"] = "md5"

    chroma_segment_directory_impl: str = (
        "chromadb.segment.impl.distributed.segment_directory.RendezvousHashSegmentDirectory")
    chroma_segment_directory_routing_mode: RoutingMode = RoutingMode.ID
    chroma_memberlist_provider_impl: str = (
        "chromadb.segment.impl.distributed.segment_directory.CustomResourceMemberlistProvider")
    worker_memberlist_name: str = "query-service-memberlist"
    chroma_coordinator_host: str = "localhost"
    chroma_server_grpc_port: Optional[int] = None
    chroma_sysdb_impl: str = "chromadb.db.impl.sqlite.SqliteDB"
    chroma_producer_impl: str = "chromadb.db.impl.sqlite.SqliteDB"
    chroma_consumer_impl: str = "chromadb.db.impl.sqlite.SqliteDB"
    chroma_segment_manager_impl: str = "chromadb.segment.impl.manager.local.LocalSegmentManager"
    chroma_executor_impl: str = "chromadb.execution.executor.local.LocalExecutor"
    chroma_query_replication_factor: int = 2
    chroma_logservice_host: str = "localhost"
    chroma_logservice_port: int = 50052
    chroma_quota_provider_impl: Optional[str] = None
    chroma_rate_limiting_provider_impl: Optional[str] = None
    chroma_quota_enforcer_impl: str = "chromadb.quota.simple_quota_enforcer.SimpleQuotaEnforcer"
    chroma_rate_limit_enforcer_impl: str = "chromadb.rate_limit.simple_rate_limit.SimpleRateLimitEnforcer"
    chroma_async_rate_limit_enforcer_impl: str = (
        "chromadb.rate_limit.simple_rate_limit.SimpleAsyncRateLimitEnforcer")
    chroma_logservice_request_timeout_seconds: int = 3
    chroma_sysdb_request_timeout_seconds: int = 3
    chroma_query_request_timeout_seconds: int = 60

    chroma_db_impl: Optional[str] = None
    chroma_collection_assignment_policy_impl: str = "chromadb.ingest.impl.simple_policy.SimpleAssignmentPolicy"

    # -- chroma-frame's own fields -----------------------------------------------------------------
    compaction_threshold_rows: int = 50_000
    # when the search graphs of new blockfiles are built: "background" (a thread of this process,
    # at once) or "manual" (only by collection.build_index(), wait_for_index() or `chroma-frame index`)
    index_build_policy: str = "background"
    durable: bool = True
    # object storage (persist_directory "s3://bucket/prefix"); unset: the AWS environment variables
    s3_endpoint_url: Optional[str] = None
    s3_region: Optional[str] = None
    s3_access_key_id: Optional[str] = None
    s3_secret_access_key: Optional[str] = None
    s3_cache_dir: Optional[str] = None  # local copies of immutable objects (default: under $XDG_CACHE_HOME)
    s3_cache_bytes: Optional[int] = None  # their bound (default: $CHROMA_FRAME_CACHE_BYTES or 10 GiB; 0: no cache)
    # seconds a read may reuse the last check for other processes' commits (0: every read checks:
    # one or two existence checks, which on object storage are requests); this process's own
    # writes are always visible
    refresh_interval: float = 0.0
    # seconds a superseded version stays readable (as_of, restore, fork) before the sweep that
    # follows each compaction deletes it; 0 keeps only the current version
    history_retention: float = 7 * 86400.0
    # where the default embedding model lives (else $CHROMA_FRAME_MODEL_DIR, else ~/.cache/chroma_frame/models)
    chroma_frame_model_dir: Optional[str] = None

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    @field_validator("chroma_server_nofile", mode="before")
    @classmethod
    def empty_str_to_none(cls, v: Any) -> Optional[int]:
        if isinstance(v, str) and v.strip() == "":
            return None
        return v

    @field_validator("index_build_policy")
    @classmethod
    def _known_policy(cls, v: str) -> str:
        if v not in INDEX_BUILD_POLICIES:
            raise ValueError(f"index_build_policy must be one of {sorted(INDEX_BUILD_POLICIES)}, got {v!r}")
        return v

    def require(self, key: str) -> Any:
        """The value of ``key``; ``ValueError`` when it is not set."""
        val = self[key]
        if val is None:
            raise ValueError(f"Missing required config value '{key}'")
        return val

    def __getitem__(self, key: str) -> Any:
        val = getattr(self, key)
        if isinstance(val, str) and val in LEGACY_CONFIG_VALUES:
            raise ValueError(LEGACY_ERROR)
        return val


__all__ = ["APIVersion", "ASYNC_HTTP_API", "HTTP_API", "INDEX_BUILD_POLICIES", "IN_PROCESS_APIS",
           "LEGACY_CONFIG_VALUES", "LEGACY_ERROR", "RUST_API", "RoutingMode", "Settings", "api_mode"]
