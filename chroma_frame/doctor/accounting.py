"""The catalog against the collection folders: every folder accounted for, every entry described.

The catalog is the truth while it is readable. When it is missing or damaged, it is rebuilt from
the folders' own descriptions (``collections/<id>/collection.json``); a folder without one (made
by a chroma-frame before descriptions existed) comes back as ``recovered-<id>`` in the default
tenant and database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from chroma_frame import validation
from chroma_frame.config import DEFAULT_DATABASE, DEFAULT_TENANT
from chroma_frame.doctor.report import ERROR, WARNING, Report
from chroma_frame.engine.store import TRASH_DIR, CollectionStore
from chroma_frame.errors import InternalError
from chroma_frame.storage.blockfile import BLOCK_DIR
from chroma_frame.storage.catalog import (
    CATALOG,
    CATALOG_DIR,
    COLLECTIONS_DIR,
    catalog_name,
    collection_dirs_with_data,
    collection_folders,
    commit_catalog,
    description_path,
    newest_version,
    read_description,
    read_version,
    write_description,
)
from chroma_frame.storage.fs import Storage
from chroma_frame.storage.integrity import CorruptFileError

REBUILD = "rebuild the catalog from the collection folders"
MISSING = f"no {CATALOG_DIR}/<n>.json, nor a legacy {CATALOG}"


class DoctorError(InternalError):
    """The doctor cannot work on this path at all (missing, or written by a newer chroma-frame)."""


@dataclass
class Accounting:
    """The catalog (None when missing or damaged) and what each folder says about itself."""

    catalog: dict[str, Any] | None
    catalog_damaged: bool = False
    version: int | None = None  # the current catalog version's number (damaged or not), None when none
    folders: list[str] = field(default_factory=list)
    descriptions: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # None: none or damaged
    with_data: set[str] = field(default_factory=set)


def account(storage: Storage, report: Report) -> Accounting:
    """Check the catalog and the folders against each other, adding problems to ``report``. Read-only."""
    catalog_path = storage.path(CATALOG_DIR)
    acc = Accounting(None)
    try:
        acc.version = newest_version(storage)
        if acc.version is not None:
            acc.catalog = read_version(storage, acc.version)
    except CorruptFileError as exc:
        acc.catalog_damaged = True
        report.add(ERROR, exc.path, f"damaged catalog: {exc.reason}",
                   f"{REBUILD} (written as a new catalog version, the damaged one kept; tenants and databases "
                   "without collections are not recovered)")
    except InternalError as exc:  # a newer format: nothing here can be judged
        raise DoctorError(str(exc)) from None
    if acc.catalog is not None or acc.catalog_damaged:
        report.checked["catalog"] += 1
    for rel in _temporary_files(storage):
        report.add(WARNING, storage.path(rel), "temporary file left by an interrupted write", "delete it")

    for name in storage.list_names(TRASH_DIR):
        report.add(WARNING, storage.path(f"{TRASH_DIR}/{name}"), "folder of a deleted collection not yet removed",
                   "delete it")
    acc.folders = collection_folders(storage)
    acc.with_data = set(collection_dirs_with_data(storage))
    for cid in acc.folders:
        try:
            acc.descriptions[cid] = read_description(storage, cid)
        except CorruptFileError as exc:
            acc.descriptions[cid] = None
            report.add(WARNING if acc.catalog else ERROR, exc.path, f"damaged collection description: {exc.reason}",
                       "rewrite it from the catalog" if acc.catalog else None)
        except InternalError as exc:
            raise DoctorError(str(exc)) from None

    if acc.catalog is None and not acc.catalog_damaged:
        if acc.with_data:
            report.add(ERROR, catalog_path, f"missing ({MISSING}), but {len(acc.with_data)} collection folder(s) "
                       "hold data: the library refuses to open this path", REBUILD)
        else:
            report.add(WARNING, catalog_path, f"missing ({MISSING}: an empty path, or not a chroma-frame path)")
    if acc.catalog is None:
        return acc

    listed = {c["id"]: c for c in acc.catalog["collections"]}
    for cid, record in listed.items():
        doc = acc.descriptions.get(cid)
        where = storage.path(description_path(cid))
        if cid not in acc.folders:
            report.add(ERROR, storage.path(f"{COLLECTIONS_DIR}/{cid}"), f"collection '{record['name']}' is in the "
                       "catalog but has no folder (deleted by hand, or an empty collection of an older "
                       "chroma-frame): it cannot be read or written", "make its files (empty)")
            continue
        if cid in acc.descriptions and doc is None and storage.exists(description_path(cid)):
            continue  # damaged: reported above
        if doc is None:
            report.add(WARNING, where, f"collection '{record['name']}' has no description (made by an older "
                       "chroma-frame): its name could not be recovered if the catalog were lost",
                       "write it from the catalog")
        elif doc.get("deleted") or doc["collection"] != record:
            report.add(WARNING, where, f"description of collection '{record['name']}' differs from the catalog "
                       "(an interrupted change)", "rewrite it from the catalog")
    for cid in acc.folders:
        if cid in listed:
            continue
        doc = acc.descriptions.get(cid)
        where = storage.path(f"{COLLECTIONS_DIR}/{cid}")
        if doc is not None and doc.get("deleted"):
            report.add(WARNING, where, f"leftover of deleted collection '{doc['collection']['name']}'",
                       "delete the folder")
        elif doc is not None:
            report.add(ERROR, where, f"collection '{doc['collection']['name']}' is not in the catalog: "
                       "its records are unreachable", "add it to the catalog")
        elif cid in acc.with_data:
            report.add(ERROR, where, "collection folder with records but no description is not in the catalog",
                       f"add it to the catalog as 'recovered-{cid}' in {DEFAULT_TENANT}/{DEFAULT_DATABASE}")
        else:
            report.add(WARNING, where, "empty folder of no known collection", "delete the folder")
    return acc


def repair_catalog(storage: Storage, acc: Accounting, report: Report) -> list[str]:
    """Make the catalog account for every folder (writing a new catalog version when it has to
    change); returns the ids of the folders to keep. Run it while no other process uses the path:
    a catalog changed meanwhile makes it raise :class:`DoctorError`, nothing written."""
    for rel in _temporary_files(storage):
        storage.delete_file(rel)
        report.actions.append(f"{storage.path(rel)}: deleted")
    for name in storage.list_names(TRASH_DIR):
        storage.delete_dir(f"{TRASH_DIR}/{name}")
        report.actions.append(f"{storage.path(f'{TRASH_DIR}/{name}')}: deleted")
    if acc.catalog_damaged:
        damaged = storage.path(catalog_name(storage, acc.version or 0))
        report.actions.append(f"{damaged}: damaged, kept for inspection (the rebuilt catalog is the next version)")
    rebuilding = acc.catalog is None
    state = acc.catalog if acc.catalog is not None else {"tenants": [], "databases": [], "collections": []}
    listed = {c["id"] for c in state["collections"]}
    keep, changed = [], rebuilding and bool(acc.with_data or acc.catalog_damaged)
    for cid in acc.folders:
        doc = acc.descriptions.get(cid)
        if cid in listed:
            keep.append(cid)
            continue
        if (doc is not None and doc.get("deleted")) or (doc is None and cid not in acc.with_data):
            storage.delete_dir(f"{COLLECTIONS_DIR}/{cid}")
            report.actions.append(f"{storage.path(f'{COLLECTIONS_DIR}/{cid}')}: deleted "
                                  f"({'a deleted collection' if doc else 'empty'})")
            continue
        record = doc["collection"] if doc is not None else _recovered_record(storage, cid)
        record = _add(state, record, doc.get("database_id") if doc else None)
        keep.append(cid)
        changed = True
        how = "recovered as" if doc is None else "restored"
        report.actions.append(f"{storage.path(f'{COLLECTIONS_DIR}/{cid}')}: {how} collection '{record['name']}' "
                              f"in {record['tenant']}/{record['database']}")
    if rebuilding and changed:
        _ensure_database(state, DEFAULT_DATABASE, DEFAULT_TENANT, None)
    if changed:
        if not commit_catalog(storage, state, acc.version):
            raise DoctorError(f"the catalog of {storage.root} changed during the repair: another process is "
                              "using this path; run the repair again when none is (nothing was written)")
        written = catalog_name(storage, (acc.version or 0) + 1)
        report.actions.append(f"{storage.path(written)}: {'rebuilt' if rebuilding else 'updated'} "
                              f"({len(state['collections'])} collection(s))")
    databases = {(d["tenant"], d["name"]): d["id"] for d in state["databases"]}
    for record in state["collections"]:
        doc = acc.descriptions.get(record["id"])
        if record["id"] not in acc.folders and not storage.exists(f"{COLLECTIONS_DIR}/{record['id']}"):
            CollectionStore.create_files(storage, record["id"])
            report.actions.append(f"{storage.path(f'{COLLECTIONS_DIR}/' + record['id'])}: made the (empty) files "
                                  f"of collection '{record['name']}'")
        if doc is None or doc.get("deleted") or doc["collection"] != record:
            write_description(storage, record, database_id=databases.get((record["tenant"], record["database"])))
            report.actions.append(f"{storage.path(description_path(record['id']))}: written from the catalog")
    return keep


def _temporary_files(storage: Storage) -> list[str]:
    """Leftovers of interrupted writes at the root and among the catalog versions."""
    return [f"{folder}/{name}" if folder else name for folder in ("", CATALOG_DIR)
            for name in storage.list_names(folder) if name.endswith(".tmp")]


def _add(state: dict[str, Any], record: dict[str, Any], database_id: str | None) -> dict[str, Any]:
    _ensure_database(state, record["database"], record["tenant"], database_id)
    taken = {(c["tenant"], c["database"], c["name"]) for c in state["collections"]}
    if (record["tenant"], record["database"], record["name"]) in taken:
        record = {**record, "name": f"{record['name']}-recovered-{record['id'][:8]}"}
    state["collections"].append(record)
    return record


def _ensure_database(state: dict[str, Any], name: str, tenant: str, database_id: str | None) -> None:
    if tenant not in state["tenants"]:
        state["tenants"].append(tenant)
    if not any(d["name"] == name and d["tenant"] == tenant for d in state["databases"]):
        ids = {d["id"] for d in state["databases"]}
        state["databases"].append({"id": database_id if database_id and database_id not in ids
                                   else str(uuid.uuid4()), "name": name, "tenant": tenant})


def _recovered_record(storage: Storage, cid: str) -> dict[str, Any]:
    """A catalog record for a folder that does not describe itself: a name and a default configuration."""
    name = f"recovered-{cid}"
    space = next((n.split(".")[1] for n in storage.list_names(f"{COLLECTIONS_DIR}/{cid}/{BLOCK_DIR}")
                  if n.endswith(".graph.npz")), None)
    config = validation.prepare_create_collection(name, None, None, space)
    config["embedding_function"] = None
    return {"id": cid, "name": name, "tenant": DEFAULT_TENANT, "database": DEFAULT_DATABASE, "metadata": None,
            "configuration_json": config}
