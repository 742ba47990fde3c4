"""Where a collection lives, as plain values a Ray task carries to any machine."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Optional

from chroma_frame.config import DEFAULT_DATABASE, DEFAULT_TENANT, Settings

if TYPE_CHECKING:
    from chroma_frame.client import Client
    from chroma_frame.collection import Collection

_clients: dict[tuple[str, str, str, str], "Client"] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Target:
    """A collection by storage path and name (plus tenant, database and the client's settings
    that differ from the defaults). Tasks reopen it from these values: a client is made once
    per process and key, with ``index_build_policy="manual"`` (a Ray worker process outlives
    the task, so it never starts background builds)."""

    path: str
    collection: str
    tenant: str = DEFAULT_TENANT
    database: str = DEFAULT_DATABASE
    settings: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, path: str, collection: str, *, tenant: str = DEFAULT_TENANT, database: str = DEFAULT_DATABASE,
           settings: "Settings | Mapping[str, Any] | None" = None) -> "Target":
        if isinstance(settings, Settings):
            defaults = type(settings).model_fields
            given = {name: getattr(settings, name) for name, f in defaults.items()
                     if name not in ("is_persistent", "persist_directory")
                     and getattr(settings, name) != f.get_default(call_default_factory=True)}
        else:
            given = dict(settings or {})
        return cls(str(path), collection, tenant, database, tuple(sorted(given.items())))

    def client(self) -> "Client":
        """This process's client of the target's storage (made once)."""
        from chroma_frame.client import PersistentClient

        with _lock:
            key = (self.path, self.tenant, self.database, repr(self.settings))
            found = _clients.get(key)
            if found is None:
                options = {**dict(self.settings), "index_build_policy": "manual"}
                found = _clients[key] = PersistentClient(self.path, Settings(**options), self.tenant, self.database)
            return found

    def get(self, embedding_function: Any = None) -> "Collection":
        """The collection (NotFoundError, as ``get_collection``, when it does not exist), with
        ``embedding_function`` when given, else the one its configuration names."""
        if embedding_function is None:
            return self.client().get_collection(self.collection)
        return self.client().get_collection(self.collection, embedding_function=embedding_function)


def resolve(path: "str | Target", collection: Optional[str], settings: Any = None, **where: Any) -> Target:
    """A :class:`Target` from a function's ``(path, collection, ...)`` arguments."""
    if isinstance(path, Target):
        return path
    if not isinstance(collection, str) or not collection:
        raise ValueError(f"collection must be a collection name, got {collection!r}")
    return Target.of(path, collection, settings=settings, **where)


def task_cpus() -> int:
    """The CPUs Ray gave the running task or actor (1 outside one): what its graph builds and
    searches use, so that tasks sharing a machine share its cores."""
    import ray

    if not ray.is_initialized():  # not in a task (the call below would start a cluster)
        return 1
    try:
        return max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))
    except Exception:  # noqa: BLE001 - outside a task
        return 1
