"""The catalog of tenants, databases and collections under one root.

``catalog.json`` is rewritten atomically under ``catalog.lock`` for every change and re-read for
every lookup, so all processes on a path agree on it and a crash leaves the old or the new one.
It carries a CRC-32C (format 2); a format 1 catalog (no checksum) is still read.

Each collection's folder also holds its own description, ``collections/<id>/collection.json``
(its catalog record, checksummed), written before the catalog changes, so that
``chroma-frame doctor --repair`` can rebuild a lost catalog from the folders. A description with
``"deleted": true`` marks a collection whose deletion was under way.
"""

from __future__ import annotations

import copy
import json
import uuid
from contextlib import contextmanager
from typing import Any, Iterator

import pyarrow.fs as pafs

from chroma_frame.config import DEFAULT_DATABASE, DEFAULT_TENANT
from chroma_frame.errors import InternalError, NotFoundError
from chroma_frame.storage import lock
from chroma_frame.storage.fs import Storage
from chroma_frame.storage.integrity import CorruptFileError, json_with_checksum, load_checked_json

CATALOG = "catalog.json"
FORMAT = 2  # 2: checksummed, collections described in their folders
COLLECTIONS_DIR = "collections"
DESCRIPTION = "collection.json"
DESCRIPTION_FORMAT = 1
# what makes a collection folder worth refusing to hide: anything but lock files and empty folders
_DATA_NAMES = (DESCRIPTION, "manifest.json")


class MissingCatalogError(InternalError):
    """``catalog.json`` is gone while collection folders remain: opening would orphan them."""


def _empty() -> dict[str, Any]:
    return {
        "format": FORMAT,
        "tenants": [DEFAULT_TENANT],
        "databases": [{"id": str(uuid.uuid4()), "name": DEFAULT_DATABASE, "tenant": DEFAULT_TENANT}],
        "collections": [],
    }


# -- the catalog file --------------------------------------------------------------------------


def parse_catalog(data: bytes, path: str) -> dict[str, Any]:
    """The catalog from its bytes; CorruptFileError when damaged, InternalError when too new."""
    state = load_checked_json(data, path, required=False)
    fmt = state.get("format", 1)
    if not isinstance(fmt, int) or isinstance(fmt, bool):
        raise CorruptFileError(path, f"unexpected format {fmt!r}")
    if fmt > FORMAT:
        raise InternalError(f"{path} was written by a newer chroma-frame (catalog format {fmt}); "
                            f"this version reads up to format {FORMAT}: upgrade chroma-frame")
    for key in ("tenants", "databases", "collections"):
        if not isinstance(state.get(key), list):
            raise CorruptFileError(path, f"no '{key}' list")
    for record in state["collections"]:
        if not isinstance(record, dict) or not all(isinstance(record.get(k), str)
                                                   for k in ("id", "name", "tenant", "database")):
            raise CorruptFileError(path, f"unexpected collection entry {record!r:.200}")
    return state


def load_catalog(storage: Storage) -> dict[str, Any] | None:
    """The stored catalog, None when there is none; raises CorruptFileError when damaged."""
    try:
        data = storage.read_bytes(CATALOG)
    except FileNotFoundError:
        return None
    return parse_catalog(data, storage.path(CATALOG))


def write_catalog(storage: Storage, state: dict[str, Any]) -> None:
    storage.write_atomic(CATALOG, json_with_checksum({**state, "format": FORMAT}))


def collection_folders(storage: Storage) -> list[str]:
    """Names of the folders under ``collections/`` (one per collection id), sorted."""
    infos = storage.fs.get_file_info(pafs.FileSelector(storage.path(COLLECTIONS_DIR), allow_not_found=True))
    return sorted(info.base_name for info in infos if info.type == pafs.FileType.Directory)


def collection_dirs_with_data(storage: Storage) -> list[str]:
    """Ids of the collection folders that hold a description, a manifest, log entries or blockfiles."""
    found = []
    for cid in collection_folders(storage):
        prefix = f"{COLLECTIONS_DIR}/{cid}"
        names = set(storage.list_names(prefix))
        if names.intersection(_DATA_NAMES) or any(
            n.endswith(".arrow") for sub in ("log", "blocks") if sub in names
            for n in storage.list_names(f"{prefix}/{sub}")
        ):
            found.append(cid)
    return found


# -- a collection's own description ------------------------------------------------------------


def description_path(collection_id: str) -> str:
    return f"{COLLECTIONS_DIR}/{collection_id}/{DESCRIPTION}"


def write_description(storage: Storage, record: dict[str, Any], *, database_id: str | None,
                      deleted: bool = False) -> None:
    """Write (atomically, with a checksum) ``collections/<id>/collection.json`` for ``record``.

    A deletion marks a folder that exists only: it never makes one.
    """
    folder = f"{COLLECTIONS_DIR}/{record['id']}"
    if deleted and not storage.exists(folder):
        return
    storage.makedirs(folder)
    storage.write_atomic(description_path(record["id"]), json_with_checksum(
        {"format": DESCRIPTION_FORMAT, "collection": record, "database_id": database_id, "deleted": deleted}))


def read_description(storage: Storage, collection_id: str) -> dict[str, Any] | None:
    """The description (``collection``, ``database_id``, ``deleted``), None when there is none;
    raises CorruptFileError when damaged."""
    rel = description_path(collection_id)
    try:
        data = storage.read_bytes(rel)
    except FileNotFoundError:
        return None
    path = storage.path(rel)
    doc = load_checked_json(data, path, required=True)
    record = doc.get("collection")
    if not isinstance(record, dict) or record.get("id") != collection_id or not all(
            isinstance(record.get(k), str) for k in ("name", "tenant", "database")):
        raise CorruptFileError(path, "does not describe this collection")
    fmt = doc.get("format", DESCRIPTION_FORMAT)
    if not isinstance(fmt, int):
        raise CorruptFileError(path, f"unexpected format {fmt!r}")
    if fmt > DESCRIPTION_FORMAT:
        raise InternalError(f"{path} was written by a newer chroma-frame: upgrade chroma-frame")
    return doc


# -- the catalog -------------------------------------------------------------------------------


class Catalog:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._lock_path = storage.path("catalog.lock")
        self._verified: bytes | None = None
        if not storage.exists(CATALOG):
            self._refuse_if_orphaning()  # before taking the lock: a refusal writes nothing
            with self._editing():
                pass
        else:
            self._load()  # a damaged or newer catalog refuses to open here, not at first use

    def _refuse_if_orphaning(self) -> None:
        ids = collection_dirs_with_data(self.storage)
        if ids:
            root = self.storage.root
            shown = ", ".join(ids[:3]) + (", ..." if len(ids) > 3 else "")
            raise MissingCatalogError(
                f"{self.storage.path(CATALOG)} is missing but {root}/{COLLECTIONS_DIR} holds {len(ids)} "
                f"collection folder(s) ({shown}): refusing to open an empty catalog over them. "
                f"Run `chroma-frame doctor --path {root} --repair` to rebuild the catalog from them."
            )

    # -- reading -------------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        try:
            data = self.storage.read_bytes(CATALOG)
        except FileNotFoundError:
            self._refuse_if_orphaning()
            return _empty()
        if data == self._verified:  # the bytes checked last time: parse only (the check costs 3x that)
            state = json.loads(data)
            state.pop("crc32c", None)
            return state
        state = parse_catalog(data, self.storage.path(CATALOG))
        self._verified = data
        return state

    def tenant_exists(self, name: str) -> bool:
        return name in self._load()["tenants"]

    def get_database(self, name: str, tenant: str) -> dict[str, str] | None:
        return _find_database(self._load(), name, tenant)

    def list_databases(self, tenant: str) -> list[dict[str, str]]:
        return [d for d in self._load()["databases"] if d["tenant"] == tenant]

    def list_collections(self, tenant: str, database: str) -> list[dict[str, Any]]:
        return [
            c for c in self._load()["collections"] if c["tenant"] == tenant and c["database"] == database
        ]

    def get_collection(self, name: str, tenant: str, database: str) -> dict[str, Any] | None:
        return next((c for c in self.list_collections(tenant, database) if c["name"] == name), None)

    def all_collections(self) -> list[dict[str, Any]]:
        """Every collection of every tenant and database."""
        return list(self._load()["collections"])

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
                write_catalog(self.storage, state)

    def _describe(self, state: dict[str, Any], record: dict[str, Any], *, deleted: bool = False) -> None:
        db = _find_database(state, record["database"], record["tenant"])
        write_description(self.storage, record, database_id=db["id"] if db else None, deleted=deleted)

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
            gone = [c for c in state["collections"] if c["tenant"] == tenant and c["database"] == name]
            for c in gone:
                self._describe(state, c, deleted=True)
            state["databases"] = [
                d for d in state["databases"] if not (d["name"] == name and d["tenant"] == tenant)
            ]
            ids = [c["id"] for c in gone]
            state["collections"] = [c for c in state["collections"] if c["id"] not in ids]
            return ids

    def create_collection(self, record: dict[str, Any], *, get_or_create: bool) -> tuple[dict[str, Any], bool]:
        """Add ``record`` (with id, name, tenant, database, ...) unless the name is taken.

        Returns the stored record and whether it was created.
        """
        described = False
        try:
            with self._editing() as state:
                for existing in state["collections"]:
                    if (existing["name"], existing["tenant"], existing["database"]) == (
                        record["name"], record["tenant"], record["database"]
                    ):
                        if get_or_create:
                            return existing, False
                        raise InternalError(f"Collection [{record['name']}] already exists")
                # described before it is cataloged: a cataloged collection always has its description
                self._describe(state, record)
                described = True
                state["collections"].append(record)
                return record, True
        except BaseException:
            if described:  # the catalog did not take it: leave no description of a collection that is not
                self.storage.delete_file(description_path(record["id"]))
            raise

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
            self._describe(state, target)
            return target

    def delete_collection(self, name: str, tenant: str, database: str) -> str:
        marked: tuple[dict[str, Any], dict[str, str] | None] | None = None
        try:
            with self._editing() as state:
                for c in state["collections"]:
                    if (c["name"], c["tenant"], c["database"]) == (name, tenant, database):
                        # marked first: a crash before the folder is removed leaves a deletion, not an orphan
                        self._describe(state, c, deleted=True)
                        marked = (c, _find_database(state, database, tenant))
                        state["collections"].remove(c)
                        return c["id"]
                raise NotFoundError(f"Collection [{name}] does not exist")
        except BaseException:
            if marked is not None:  # the catalog still lists it: so must its description
                record, db = marked
                write_description(self.storage, record, database_id=db["id"] if db else None)
            raise

    def reset(self) -> list[str]:
        with self._editing() as state:
            for c in state["collections"]:
                self._describe(state, c, deleted=True)
            gone = [c["id"] for c in state["collections"]]
            state.clear()
            state.update(_empty())
            return gone


def _find_database(state: dict[str, Any], name: str, tenant: str) -> dict[str, str] | None:
    return next((d for d in state["databases"] if d["name"] == name and d["tenant"] == tenant), None)
