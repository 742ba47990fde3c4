"""chroma-frame: Chroma's API on Arrow, Parquet and DuckDB.

>>> import chroma_frame as chromadb
>>> client = chromadb.EphemeralClient()
"""

from chroma_frame import errors
from chroma_frame.client import AdminClient, Client, EphemeralClient, PersistentClient
from chroma_frame.collection import Collection
from chroma_frame.config import DEFAULT_DATABASE, DEFAULT_TENANT, Settings
from chroma_frame.api.types import (
    Documents,
    EmbeddingFunction,
    Embeddings,
    GetResult,
    IDs,
    Include,
    Metadata,
    Metadatas,
    QueryResult,
    Where,
    WhereDocument,
)

__version__ = "0.1.0"


def __getattr__(name: str):
    # The HTTP clients pull in httpx; load them only when asked for.
    if name in ("HttpClient", "AsyncHttpClient"):
        from chroma_frame import http_client

        return getattr(http_client, name)
    raise AttributeError(f"module 'chroma_frame' has no attribute {name!r}")

_settings = Settings()


def configure(**kwargs) -> None:
    """Replace the module-level settings that ``Client()`` uses, as ``chromadb.configure`` does."""
    global _settings
    _settings = Settings(**kwargs)


def get_settings() -> Settings:
    return _settings


__all__ = [
    "AdminClient",
    "AsyncHttpClient",
    "Client",
    "Collection",
    "DEFAULT_DATABASE",
    "DEFAULT_TENANT",
    "Documents",
    "EmbeddingFunction",
    "Embeddings",
    "EphemeralClient",
    "GetResult",
    "HttpClient",
    "IDs",
    "Include",
    "Metadata",
    "Metadatas",
    "PersistentClient",
    "QueryResult",
    "Settings",
    "Where",
    "WhereDocument",
    "configure",
    "errors",
    "get_settings",
]
