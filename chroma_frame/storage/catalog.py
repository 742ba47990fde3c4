"""The catalog of tenants, databases and collections under one root.

``catalog.json`` is rewritten atomically under ``catalog.lock`` for every change and re-read for
every lookup, so all processes on a path agree on it and a crash leaves the old or the new one.
"""

from __future__ import annotations

import copy
import json
import uuid
from contextlib import contextmanager
from typing import Any, Iterator

from chroma_frame.config import DEFAULT_DATABASE, DEFAULT_TENANT
from chroma_frame.errors import InternalError, NotFoundError
from chroma_frame.storage import lock
from chroma_frame.storage.fs import Storage

CATALOG = "catalog.json"
FORMAT = 1


def _empty() -> dict[str, Any]:
    return {
        "format": FORMAT,
        "tenants": [DEFAULT_TENANT],
        "databases": [{"id": str(uuid.uuid4()), "name": DEFAULT_DATABASE, "tenant": DEFAULT_TENANT}],
        "collections": [],
    }


class Catalog:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._lock_path = storage.path("catalog.lock")
        if not storage.exists(CATALOG):
            with self._editing():
                pass

    # -- reading -------------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        try:
            return json.loads(self.storage.read_bytes(CATALOG))
        except FileNotFoundError:
            return _empty()

    def tenant_exists(self, name: str) -> bool:
        return name in self._load()["tenants"]

    def get_database(self, name: str, tenant: str) -> dict[str, str] | None:
        return next(
            (d for d in self._load()["databases"] if d["name"] == name and d["tenant"] == tenant), None
        )

    def list_databases(self, tenant: str) -> list[dict[str, str]]:
        return [d for d in self._load()["databases"] if d["tenant"] == tenant]

    def list_collections(self, tenant: str, database: str) -> list[dict[str, Any]]:
        return [
            c for c in self._load()["collections"] if c["tenant"] == tenant and c["database"] == database
        ]

    def get_collection(self, name: str, tenant: str, database: str) -> dict[str, Any] | None:
        return next((c for c in self.list_collections(tenant, database) if c["name"] == name), None)

    def get_collection_by_id(self, collection_id: str) -> dict[str, Any] | None:
        return next((c for c in self._load()["collections"] if c["id"] == collection_id), None)

    # -- writing -------------------------------------------------------------------------
    @contextmanager
    def _editing(self) -> Iterator[dict[str, Any]]:
        with lock.exclusive(self._lock_path):
            state = self._load()
            before = copy.deepcopy(state)
            yield state
            if state != before or not self.storage.exists(CATALOG):
                self.storage.write_atomic(CATALOG, json.dumps(state, indent=1).encode())

    def create_tenant(self, name: str) -> None:
        with self._editing() as state:
            if name in state["tenants"]:
                raise InternalError(f"Tenant [{name}] already exists")
            state["tenants"].append(name)

    def create_database(self, name: str, tenant: str) -> None:
        with self._editing() as state:
            if any(d["name"] == name and d["tenant"] == tenant for d in state["databases"]):
                raise InternalError(f"Database [{name}] already exists")
            state["databases"].append({"id": str(uuid.uuid4()), "name": name, "tenant": tenant})

    def delete_database(self, name: str, tenant: str) -> list[str]:
        """Remove a database and its collections from the catalog; returns their collection ids."""
        with self._editing() as state:
            if not any(d["name"] == name and d["tenant"] == tenant for d in state["databases"]):
                raise NotFoundError(f"Database [{name}] not found")
            state["databases"] = [
                d for d in state["databases"] if not (d["name"] == name and d["tenant"] == tenant)
            ]
            gone = [c["id"] for c in state["collections"] if c["tenant"] == tenant and c["database"] == name]
            state["collections"] = [c for c in state["collections"] if c["id"] not in gone]
            return gone

    def create_collection(self, record: dict[str, Any], *, get_or_create: bool) -> tuple[dict[str, Any], bool]:
        """Add ``record`` (with id, name, tenant, database, ...) unless the name is taken.

        Returns the stored record and whether it was created.
        """
        with self._editing() as state:
            for existing in state["collections"]:
                if (existing["name"], existing["tenant"], existing["database"]) == (
                    record["name"], record["tenant"], record["database"]
                ):
                    if get_or_create:
                        return existing, False
                    raise InternalError(f"Collection [{record['name']}] already exists")
            state["collections"].append(record)
            return record, True

    def update_collection(self, collection_id: str, **changes: Any) -> dict[str, Any]:
        with self._editing() as state:
            target = next((c for c in state["collections"] if c["id"] == collection_id), None)
            if target is None:
                raise NotFoundError(f"Collection [{collection_id}] does not exist")
            new_name = changes.get("name")
            if new_name is not None and new_name != target["name"] and any(
                c["name"] == new_name and c["tenant"] == target["tenant"] and c["database"] == target["database"]
                for c in state["collections"]
            ):
                raise InternalError(
                    "Database error: error returned from database: (code: 2067) UNIQUE constraint failed: "
                    "collections.name, collections.database_id"
                )
            target.update(changes)
            return target

    def delete_collection(self, name: str, tenant: str, database: str) -> str:
        with self._editing() as state:
            for c in state["collections"]:
                if (c["name"], c["tenant"], c["database"]) == (name, tenant, database):
                    state["collections"].remove(c)
                    return c["id"]
            raise NotFoundError(f"Collection [{name}] does not exist")

    def reset(self) -> list[str]:
        with self._editing() as state:
            gone = [c["id"] for c in state["collections"]]
            state.clear()
            state.update(_empty())
            return gone
