"""The catalog of tenants, databases and collections under one root, committed without locks.

The catalog is a numbered series of immutable versions, ``catalog/<n:020d>.json`` (checksummed
JSON, format 2); the newest is current. An edit reads the newest version ``n``, applies its change
to a copy and creates ``n + 1`` with a create-if-absent write (:class:`Series`: ``link(2)`` on a
local disk, a conditional put on S3). When another writer created ``n + 1`` first, the whole edit
runs again on the fresh state, so its checks ("already exists") are decided on what was committed.
A lookup costs one existence check (``n + 1``) when nothing changed; a new version is parsed once.

A root written by an older chroma-frame has one ``catalog.json``, rewritten in place: while the
series is empty it is read as version 0; the first edit writes version 1, and from then on the old
file is never read (:func:`delete_catalog_versions` removes it with the other old versions).

Old versions stay until :func:`delete_catalog_versions` removes them, in ascending order and only
once superseded for :data:`GRACE` seconds: a reader that checked within :data:`RECHECK` seconds
that its version was the newest can then trust one absent ``n + 1`` to mean nothing changed.

Each collection's folder also holds its own description, ``collections/<id>/collection.json``
(its catalog record, checksummed), written before the catalog changes, so that
``chroma-frame doctor --repair`` can rebuild a lost catalog from the folders. A description with
``"deleted": true`` marks a collection whose deletion was under way.
"""

from __future__ import annotations

import copy
import random
import time
import uuid
from typing import Any, Callable, Optional, TypeVar

from chroma_frame.config import DEFAULT_DATABASE, DEFAULT_TENANT
from chroma_frame.errors import InternalError, NotFoundError, StorageWriteError
from chroma_frame.storage.fs import Storage, write_error
from chroma_frame.storage.integrity import CorruptFileError, json_with_checksum, load_checked_json
from chroma_frame.storage.series import Series

CATALOG = "catalog.json"  # the single, rewritten catalog of older versions: read as version 0
CATALOG_DIR = "catalog"
LEGACY = 0
FORMAT = 2  # 2: checksummed, collections described in their folders
COLLECTIONS_DIR = "collections"
DESCRIPTION = "collection.json"
DESCRIPTION_FORMAT = 1
# what makes a collection folder worth refusing to hide: a description, a manifest, log entries, blockfiles
_DATA_NAMES = (DESCRIPTION, "manifest.json")
_DATA_FILES = {"log": ".arrow", "blocks": ".arrow", "manifests": ".json"}

RECHECK = 60.0  # seconds a reader trusts "n + 1 is absent" to mean "n is the newest" (see the docstring)
GRACE = 600.0  # a version superseded for less than this is never deleted (> RECHECK plus clock skew)
ATTEMPTS = 64  # edits that lose this many races in a row give up
_BACKOFF = (0.001, 0.05)  # seconds: the first and the largest randomized pause after a lost race

T = TypeVar("T")


class MissingCatalogError(InternalError):
    """The catalog is gone while collection folders remain: opening would orphan them."""


def _empty() -> dict[str, Any]:
    return {
        "format": FORMAT,
        "tenants": [DEFAULT_TENANT],
        "databases": [{"id": str(uuid.uuid4()), "name": DEFAULT_DATABASE, "tenant": DEFAULT_TENANT}],
        "collections": [],
    }


# -- the versions ------------------------------------------------------------------------------


def parse_catalog(data: bytes, path: str, *, required: bool = False) -> dict[str, Any]:
    """The catalog from its bytes; CorruptFileError when damaged (or, ``required``, without a
    checksum), InternalError when too new."""
    state = load_checked_json(data, path, required=required)
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


def catalog_series(storage: Storage) -> Series:
    return Series(storage, CATALOG_DIR, ".json")


def catalog_name(storage: Storage, version: int) -> str:
    """The file of catalog ``version`` (0: the legacy ``catalog.json``), relative to the root."""
    return CATALOG if version == LEGACY else catalog_series(storage).name(version)


def catalog_versions(storage: Storage) -> list[int]:
    """The numbers of the stored catalog versions, ascending (one listing; the legacy file not included)."""
    return catalog_series(storage).numbers()


def newest_version(storage: Storage) -> Optional[int]:
    """The current catalog's number: the newest of the series, else 0 for a legacy ``catalog.json``,
    else None (no catalog)."""
    newest = catalog_series(storage).latest()
    if newest is not None:
        return newest
    return LEGACY if storage.has_file(CATALOG) else None


def read_version(storage: Storage, version: int) -> dict[str, Any]:
    """Catalog ``version``; CorruptFileError when damaged, InternalError when too new."""
    rel = catalog_name(storage, version)
    return parse_catalog(storage.read_bytes(rel), storage.path(rel), required=version != LEGACY)


def load_catalog(storage: Storage) -> Optional[tuple[int, dict[str, Any]]]:
    """The current catalog's number and state, None when there is none; CorruptFileError when damaged."""
    version = newest_version(storage)
    return None if version is None else (version, read_version(storage, version))


def _encode(state: dict[str, Any]) -> bytes:
    return json_with_checksum({**state, "format": FORMAT})


def commit_catalog(storage: Storage, state: dict[str, Any], after: Optional[int]) -> bool:
    """Create the version after ``after`` (None: there is no catalog yet) holding ``state``;
    False when another writer created that number first."""
    storage.makedirs(CATALOG_DIR)
    return catalog_series(storage).create((after or LEGACY) + 1, _encode(state))


def delete_catalog_versions(storage: Storage, before: int, *, grace: float = GRACE) -> list[int]:
    """Delete the catalog versions numbered below ``before`` (the legacy ``catalog.json`` is 0),
    oldest first, never the newest nor one superseded less than ``grace`` seconds ago (by the
    storage's clock). Returns the numbers deleted. For vacuum."""
    numbers = catalog_versions(storage)
    if not numbers:
        return []  # a legacy catalog alone is the current one
    older = ([LEGACY] if storage.has_file(CATALOG) else []) + numbers[:-1]
    deadline = time.time() - grace
    deleted: list[int] = []
    for version, successor in zip(older, older[1:] + numbers[-1:]):
        if version >= before or _mtime(storage, catalog_name(storage, successor)) > deadline:
            break
        storage.delete_file(catalog_name(storage, version))
        deleted.append(version)
    return deleted


def _mtime(storage: Storage, rel: str) -> float:
    info = storage.fs.get_file_info(storage.path(rel))
    return info.mtime.timestamp() if info.mtime is not None else time.time()


# -- collection folders ------------------------------------------------------------------------


def collection_folders(storage: Storage) -> list[str]:
    """Names of the folders under ``collections/`` (one per collection id), sorted."""
    return sorted(name for name in set(storage.list_names(COLLECTIONS_DIR))
                  if not storage.has_file(f"{COLLECTIONS_DIR}/{name}"))


def collection_dirs_with_data(storage: Storage) -> list[str]:
    """Ids of the collection folders that hold a description, a manifest, log entries or blockfiles."""
    found = []
    for cid in collection_folders(storage):
        prefix = f"{COLLECTIONS_DIR}/{cid}"
        names = set(storage.list_names(prefix))
        if names.intersection(_DATA_NAMES) or any(
            n.endswith(suffix) for sub, suffix in _DATA_FILES.items() if sub in names
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


# -- one edit ----------------------------------------------------------------------------------

_Written = tuple[dict[str, Any], Optional[str], bool]  # a description: record, database id, deleted


class _Descriptions:
    """The descriptions one edit wrote, over all its attempts, so that those of a lost attempt
    can be brought in line with what the catalog holds in the end."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.written: dict[str, _Written] = {}
        self.existed: set[str] = set()  # ids some attempt found cataloged
        self.by_attempt: set[str] = set()  # ids described by the current attempt

    def write(self, record: dict[str, Any], database_id: Optional[str], deleted: bool, *, listed: bool) -> None:
        write_description(self.storage, record, database_id=database_id, deleted=deleted)
        self.written[record["id"]] = (copy.deepcopy(record), database_id, deleted)
        self.by_attempt.add(record["id"])
        if listed:
            self.existed.add(record["id"])

    def settle(self, state: dict[str, Any], *, skip: set[str]) -> None:
        """Make the descriptions not in ``skip`` agree with ``state``: a cataloged collection is
        described as cataloged; one that existed and is gone is marked deleted; one never
        cataloged (a creation that did not happen) has no description."""
        for cid, (record, database_id, deleted) in self.written.items():
            if cid in skip:
                continue
            listed = _find_by_id(state, cid)
            if listed is not None:
                db = _find_database(state, listed["database"], listed["tenant"])
                wanted: Optional[_Written] = (listed, db["id"] if db else None, False)
            else:
                wanted = (record, database_id, True) if cid in self.existed else None
            if wanted == (record, database_id, deleted):
                continue
            if wanted is None:
                self.storage.delete_file(description_path(cid))
            else:
                write_description(self.storage, wanted[0], database_id=wanted[1], deleted=wanted[2])


class Draft:
    """What an edit function changes: ``state`` (a private copy of the newest catalog), and the
    collection descriptions it writes (before the catalog changes) through :meth:`describe`."""

    def __init__(self, state: dict[str, Any], base: dict[str, Any], descriptions: _Descriptions) -> None:
        self.state = state
        self._base = base
        self._descriptions = descriptions

    def describe(self, record: dict[str, Any], *, deleted: bool = False) -> None:
        db = _find_database(self.state, record["database"], record["tenant"])
        self._descriptions.write(record, db["id"] if db else None, deleted,
                                 listed=_find_by_id(self._base, record["id"]) is not None)


# -- the catalog -------------------------------------------------------------------------------


class Catalog:
    """The catalog of one root, as one process sees it: lookups read the newest version (cached by
    number), edits commit the next one."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._series = catalog_series(storage)
        self._seen: Optional[tuple[int, dict[str, Any], float]] = None  # version, state, when known newest
        version, _ = self._current()  # a damaged or newer catalog refuses to open here, not at first use
        if version is None:
            self._edit(lambda draft: None)  # a new root: its first version

    def _refuse_if_orphaning(self) -> None:
        ids = collection_dirs_with_data(self.storage)
        if ids:
            root = self.storage.root
            shown = ", ".join(ids[:3]) + (", ..." if len(ids) > 3 else "")
            raise MissingCatalogError(
                f"The catalog of {root} is missing (no {CATALOG_DIR}/<n>.json, nor a legacy {CATALOG}) but "
                f"{root}/{COLLECTIONS_DIR} holds {len(ids)} collection folder(s) ({shown}): refusing to open "
                f"an empty catalog over them. "
                f"Run `chroma-frame doctor --path {root} --repair` to rebuild the catalog from them."
            )

    # -- reading -------------------------------------------------------------------------
    def _current(self) -> tuple[Optional[int], dict[str, Any]]:
        """The newest version's number (None: no catalog) and state (shared: never change it)."""
        seen = self._seen
        started = time.monotonic()
        if seen is not None and started - seen[2] < RECHECK and not self._series.has(seen[0] + 1):
            return seen[0], seen[1]
        version = self._series.latest(seen[0]) if seen and seen[0] != LEGACY else newest_version(self.storage)
        if version is None:
            self._seen = None
            self._refuse_if_orphaning()
            return None, _empty()
        state = seen[1] if seen is not None and seen[0] == version else read_version(self.storage, version)
        self._seen = (version, state, started)
        return version, state

    def _state(self) -> dict[str, Any]:
        return self._current()[1]

    def tenant_exists(self, name: str) -> bool:
        return name in self._state()["tenants"]

    def get_database(self, name: str, tenant: str) -> dict[str, str] | None:
        found = _find_database(self._state(), name, tenant)
        return dict(found) if found else None

    def list_databases(self, tenant: str) -> list[dict[str, str]]:
        return [dict(d) for d in self._state()["databases"] if d["tenant"] == tenant]

    def list_collections(self, tenant: str, database: str) -> list[dict[str, Any]]:
        """The collections of one database ordered by id, as Chroma lists them (so pages agree)."""
        return copy.deepcopy(sorted(
            (c for c in self._state()["collections"] if c["tenant"] == tenant and c["database"] == database),
            key=lambda c: c["id"]))

    def get_collection(self, name: str, tenant: str, database: str) -> dict[str, Any] | None:
        return copy.deepcopy(_find_collection(self._state(), name, tenant, database))

    def all_collections(self) -> list[dict[str, Any]]:
        """Every collection of every tenant and database."""
        return copy.deepcopy(self._state()["collections"])

    def get_collection_by_id(self, collection_id: str) -> dict[str, Any] | None:
        return copy.deepcopy(_find_by_id(self._state(), collection_id))

    # -- writing -------------------------------------------------------------------------
    def _edit(self, change: Callable[[Draft], T]) -> T:
        """Run ``change`` on a copy of the newest catalog and commit the result as the next version.

        When another writer commits that number first, ``change`` runs again on the new state, so
        it must decide everything from its draft (it may raise to refuse). Descriptions written by
        attempts that lost are brought in line with the catalog at the end, whatever happens.
        """
        descriptions = _Descriptions(self.storage)
        for attempt in range(ATTEMPTS):
            descriptions.by_attempt = set()
            try:
                version, state = self._current()
                draft = Draft(copy.deepcopy(state), state, descriptions)
                result = change(draft)
                if version is not None and draft.state == state:
                    committed = state
                else:
                    started = time.monotonic()
                    if not self._commit(draft.state, version, state):
                        time.sleep(random.uniform(0, min(_BACKOFF[1], _BACKOFF[0] * 2 ** attempt)))
                        continue
                    committed = {**draft.state, "format": FORMAT}
                    self._seen = ((version or LEGACY) + 1, committed, started)
            except BaseException:
                self._settle_after_failure(descriptions)
                raise
            descriptions.settle(committed, skip=descriptions.by_attempt)
            return copy.deepcopy(result)
        self._settle_after_failure(descriptions)
        raise InternalError(f"Could not change the catalog of {self.storage.root}: {ATTEMPTS} attempts in a row "
                            "found that another process had changed it first; nothing was changed")

    def _commit(self, state: dict[str, Any], version: Optional[int], before: dict[str, Any]) -> bool:
        """:func:`commit_catalog`; a version created but not known durable (its folder's fsync
        failed) is taken back by committing ``before`` again on top of it, so the error can say
        that nothing was committed, unless another writer built on it first."""
        try:
            return commit_catalog(self.storage, state, version)
        except StorageWriteError as exc:
            created = (version or LEGACY) + 1
            try:
                ours = version is not None and self._series.read(created) == _encode(state)
                undone = ours and commit_catalog(self.storage, before, created)
            except OSError:
                undone = False
            if undone and isinstance(exc.__cause__, OSError):
                raise write_error(exc.__cause__, exc.filename or self.storage.path(catalog_name(
                    self.storage, created))) from exc.__cause__
            raise

    def _settle_after_failure(self, descriptions: _Descriptions) -> None:
        if not descriptions.written:
            return
        try:
            descriptions.settle(self._current()[1], skip=set())
        except Exception:  # noqa: BLE001 - the edit's own error is what the caller needs; the doctor finds the rest
            pass

    def create_tenant(self, name: str) -> None:
        def add(draft: Draft) -> None:
            if name in draft.state["tenants"]:
                raise InternalError(f"Tenant [{name}] already exists")
            draft.state["tenants"].append(name)

        self._edit(add)

    def create_database(self, name: str, tenant: str) -> None:
        def add(draft: Draft) -> None:
            if _find_database(draft.state, name, tenant) is not None:
                raise InternalError(f"Database [{name}] already exists")
            draft.state["databases"].append({"id": str(uuid.uuid4()), "name": name, "tenant": tenant})

        self._edit(add)

    def delete_database(self, name: str, tenant: str) -> list[str]:
        """Remove a database and its collections from the catalog; returns their collection ids."""
        def remove(draft: Draft) -> list[str]:
            state = draft.state
            if _find_database(state, name, tenant) is None:
                raise NotFoundError(f"Database [{name}] not found")
            gone = [c for c in state["collections"] if c["tenant"] == tenant and c["database"] == name]
            for c in gone:
                draft.describe(c, deleted=True)
            state["databases"] = [
                d for d in state["databases"] if not (d["name"] == name and d["tenant"] == tenant)
            ]
            ids = [c["id"] for c in gone]
            state["collections"] = [c for c in state["collections"] if c["id"] not in ids]
            return ids

        return self._edit(remove)

    def create_collection(self, record: dict[str, Any], *, get_or_create: bool) -> tuple[dict[str, Any], bool]:
        """Add ``record`` (with id, name, tenant, database, ...) unless the name is taken.

        Returns the stored record and whether it was created.
        """
        def add(draft: Draft) -> tuple[dict[str, Any], bool]:
            existing = _find_collection(draft.state, record["name"], record["tenant"], record["database"])
            if existing is not None:
                if get_or_create:
                    return existing, False
                raise InternalError(f"Collection [{record['name']}] already exists")
            # described before it is cataloged: a cataloged collection always has its description
            draft.describe(record)
            draft.state["collections"].append(copy.deepcopy(record))
            return record, True

        return self._edit(add)

    def update_collection(self, collection_id: str, **changes: Any) -> dict[str, Any]:
        def update(draft: Draft) -> dict[str, Any]:
            state = draft.state
            target = _find_by_id(state, collection_id)
            if target is None:
                raise NotFoundError(f"Collection [{collection_id}] does not exist")
            new_name = changes.get("name")
            if new_name is not None and new_name != target["name"] and _find_collection(
                    state, new_name, target["tenant"], target["database"]) is not None:
                raise InternalError(
                    "Database error: error returned from database: (code: 2067) UNIQUE constraint failed: "
                    "collections.name, collections.database_id"
                )
            target.update(copy.deepcopy(changes))
            draft.describe(target)
            return target

        return self._edit(update)

    def delete_collection(self, name: str, tenant: str, database: str) -> str:
        def remove(draft: Draft) -> str:
            target = _find_collection(draft.state, name, tenant, database)
            if target is None:
                raise NotFoundError(f"Collection [{name}] does not exist")
            # marked first: a crash before the folder is removed leaves a deletion, not an orphan
            draft.describe(target, deleted=True)
            draft.state["collections"].remove(target)
            return target["id"]

        return self._edit(remove)

    def reset(self) -> list[str]:
        def clear(draft: Draft) -> list[str]:
            for c in draft.state["collections"]:
                draft.describe(c, deleted=True)
            gone = [c["id"] for c in draft.state["collections"]]
            draft.state.clear()
            draft.state.update(_empty())
            return gone

        return self._edit(clear)


def _find_database(state: dict[str, Any], name: str, tenant: str) -> dict[str, str] | None:
    return next((d for d in state["databases"] if d["name"] == name and d["tenant"] == tenant), None)


def _find_collection(state: dict[str, Any], name: str, tenant: str, database: str) -> dict[str, Any] | None:
    return next((c for c in state["collections"]
                 if c["name"] == name and c["tenant"] == tenant and c["database"] == database), None)


def _find_by_id(state: dict[str, Any], collection_id: str) -> dict[str, Any] | None:
    return next((c for c in state["collections"] if c["id"] == collection_id), None)
