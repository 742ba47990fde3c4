"""``migrate``: copy a Chroma 1.x directory into chroma-frame storage, resumably, with progress."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional

from chroma_frame.client import Client, PersistentClient
from chroma_frame.config import Settings
from chroma_frame.errors import NotFoundError
from chroma_frame.migration.catalog import collection_record, space_of
from chroma_frame.migration.records import CollectionRecords
from chroma_frame.migration.sqlite_source import ChromaSqlite, SourceCollection, SourceError
from chroma_frame.storage.chroma_dir import is_chroma_directory

BATCH = 2_000


class MigrationError(ValueError):
    """The copy cannot go on: the target holds something else under a collection's name or id."""


@dataclass
class CollectionCopy:
    """What happened to one collection."""

    tenant: str
    database: str
    name: str
    id: str
    records: int  # live records in the source
    copied: int  # written by this run (the rest were there from an earlier run)


@dataclass
class MigrationReport:
    """The outcome of :func:`migrate`."""

    source: str
    target: str
    tenants: list[str] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)  # "tenant/database"
    collections: list[CollectionCopy] = field(default_factory=list)

    @property
    def records(self) -> int:
        return sum(c.records for c in self.collections)

    @property
    def copied(self) -> int:
        return sum(c.copied for c in self.collections)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "records": self.records, "copied": self.copied}


def _ensure_tenant(client: Client, tenant: str) -> None:
    try:
        client.get_tenant(tenant)
    except NotFoundError:
        client.create_tenant(tenant)


def _ensure_database(client: Client, tenant: str, database: str) -> None:
    try:
        client.get_database(database, tenant)
    except NotFoundError:
        client.create_database(database, tenant)


def _target_collection(client: Client, record: dict[str, Any]) -> Any:
    """The target's collection for ``record``: the one an earlier run made (same id), else a new one."""
    client.set_tenant(record["tenant"], record["database"])
    where = f"{record['tenant']}/{record['database']}/{record['name']}"
    try:
        existing = client.get_collection_by_id(record["id"], embedding_function=None)
    except NotFoundError:
        existing = None
    if existing is not None:
        if (existing.name, existing.tenant, existing.database) != (record["name"], record["tenant"],
                                                                   record["database"]):
            raise MigrationError(f"the target already has collection {record['id']} under another name or "
                                 f"database ({existing.tenant}/{existing.database}/{existing.name}); "
                                 f"cannot copy {where}")
        return existing
    try:
        client.get_collection(record["name"], embedding_function=None)
    except NotFoundError:
        client._create_record(dict(record), get_or_create=False)  # the catalog path create_collection takes
    else:
        raise MigrationError(f"the target already has a collection {where} with another id: "
                             "migrate into a new path, or delete that collection first")
    return client.get_collection_by_id(record["id"], embedding_function=None)


def _progress(enabled: bool, total: int, initial: int, label: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=label, unit="rec", disable=not enabled, leave=True,
                dynamic_ncols=True)


def _copy_collection(client: Client, source: ChromaSqlite, root: str, collection: SourceCollection, *,
                     batch_size: int, progress: bool) -> CollectionCopy:
    record = collection_record(collection)
    records = CollectionRecords(source, root, collection, space_of(record))  # the source read before the target
    ids = records.ids()                                                       # gets an (empty) collection
    target = _target_collection(client, record)
    present = frozenset(target.get(include=[])["ids"]) if target.count() else frozenset()
    missing = len(ids) - len(present.intersection(ids))
    label = f"{collection.tenant}/{collection.database}/{collection.name}"
    copied = 0
    with _progress(progress, len(ids), len(ids) - missing, label) as bar:
        if missing:
            for batch in records.batches(batch_size, skip=present):
                target.add(ids=batch.ids, embeddings=batch.embeddings, metadatas=batch.metadatas,
                           documents=batch.documents, uris=batch.uris)
                copied += len(batch.ids)
                bar.update(len(batch.ids))
    return CollectionCopy(collection.tenant, collection.database, collection.name, collection.id, len(ids), copied)


def migrate(from_path: str | os.PathLike, to_path: str | os.PathLike, *, progress: bool = True,
            batch_size: int = BATCH,
            on_collection: Optional[Callable[[CollectionCopy], None]] = None,
            settings: Optional[Settings] = None) -> MigrationReport:
    """Copy every tenant, database, collection (configuration, metadata, embedding function config,
    schema) and record of the Chroma 1.x directory ``from_path`` into chroma-frame storage at
    ``to_path`` (created when absent; collections keep their ids).

    The source is only read (SQLite opened read-only; chromadb is not needed). Running it again
    after an interruption goes on where it stopped: records already in the target are skipped, never
    written twice. ``on_collection`` is called after each collection is complete. ``settings``: the
    target client's (``s3_endpoint_url`` and the keys when ``to_path`` is ``s3://bucket/prefix``).
    """
    source_root, target_root = os.fspath(from_path), os.fspath(to_path)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if not is_chroma_directory(source_root):
        raise SourceError(f"{source_root} is not a Chroma directory: it has no chroma.sqlite3")
    if os.path.exists(target_root) and os.path.samefile(source_root, target_root):
        raise MigrationError("the target must be another path than the Chroma directory")
    source = ChromaSqlite(source_root)
    try:
        collections = source.collections()
        target_settings = (Settings(index_build_policy="manual") if settings is None
                           else settings.model_copy(update={"index_build_policy": "manual"}))
        client = PersistentClient(target_root, settings=target_settings)
        report = MigrationReport(source_root, target_root)
        for tenant in source.tenants():
            _ensure_tenant(client, tenant)
            report.tenants.append(tenant)
        for tenant, database in source.databases():
            _ensure_tenant(client, tenant)
            _ensure_database(client, tenant, database)
            report.databases.append(f"{tenant}/{database}")
        for collection in collections:
            done = _copy_collection(client, source, source_root, collection, batch_size=batch_size,
                                    progress=progress)
            report.collections.append(done)
            if on_collection is not None:
                on_collection(done)
        return report
    finally:
        source.close()

