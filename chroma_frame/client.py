"""Clients: tenants, databases and collection verbs over one storage root.

Clients on the same path in one process share a :class:`System` (its catalog and its collections'
cached snapshots), as Chroma's clients with the same settings share one.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, TypeVar

from chroma_frame import config
from chroma_frame import validation as v
from chroma_frame.collection import Collection
from chroma_frame.config import DEFAULT_DATABASE, DEFAULT_TENANT
from chroma_frame.embeddings.binding import (
    DEFAULT,
    bind_embedding_function,
    embedding_function_config,
    updated_embedding_function_config,
)
from chroma_frame.engine.collection import resolve_version
from chroma_frame.engine.history import Vacuumed, fork, vacuum, vacuum_orphans
from chroma_frame.engine.store import CollectionStore, empty_trash
from chroma_frame.errors import AuthorizationError, InvalidArgumentError, NotFoundError
from chroma_frame.interop.sql import SQLMethods
from chroma_frame.schema import register_schema_functions, schema_json
from chroma_frame.schema.reconcile import apply_configuration, reconcile, schema_from_configuration
from chroma_frame.storage.catalog import CATALOG_DIR, Catalog, catalog_name, catalog_versions, delete_catalog_versions
from chroma_frame.storage.catalog import GRACE as CATALOG_GRACE
from chroma_frame.storage.chroma_dir import refuse_chroma_directory
from chroma_frame.storage.fs import Storage

if TYPE_CHECKING:
    from chroma_frame.settings import Settings

VERSION = "1.5.9"  # the Chroma API version this package speaks
T = TypeVar("T")


class System:
    """Everything under one storage root: the catalog and the open collections."""

    def __init__(self, storage: Storage, settings: Settings) -> None:
        self.storage = storage
        self.settings = settings
        self.catalog = Catalog(storage)
        self._stores: dict[str, CollectionStore] = {}
        empty_trash(storage)  # what a crash or a busy folder left of deleted collections
        self._mutex = threading.Lock()

    def store(self, collection_id: str) -> CollectionStore:
        with self._mutex:
            store = self._stores.get(collection_id)
            if store is None:
                store = self._stores[collection_id] = CollectionStore(
                    self.storage, collection_id,
                    compaction_threshold_rows=self.settings.compaction_threshold_rows,
                    refresh_interval=self.settings.refresh_interval,
                )
                store.index.auto_build = self.settings.index_build_policy == "background"
                store.after_compaction = self._sweep
            return store

    def _sweep(self, store: CollectionStore) -> None:
        """After a compaction: vacuum the collection's history past the retention setting."""
        vacuum(store, older_than=self.settings.history_retention)

    def vacuum(self, older_than: Optional[float] = None) -> Vacuumed:
        """Vacuum every collection (see :meth:`Client.vacuum`), then what deleted collections left."""
        retention = self.settings.history_retention if older_than is None else older_than
        done = Vacuumed()
        for record in self.catalog.all_collections():
            try:
                done.add(vacuum(self.store(record["id"]), older_than=retention))
            except NotFoundError:  # deleted meanwhile
                continue
        done.add(vacuum_orphans(self.storage, {r["id"] for r in self.catalog.all_collections()}))
        sizes = {e.name: e.size or 0 for e in self.storage.list_entries(CATALOG_DIR)}
        newest = catalog_versions(self.storage)
        if newest:  # superseded catalog versions (never within GRACE: readers trust "n + 1 is absent" for a while)
            for number in delete_catalog_versions(self.storage, newest[-1], grace=max(retention, CATALOG_GRACE)):
                done.add(Vacuumed(files=1, bytes=sizes.get(catalog_name(self.storage, number).rsplit("/", 1)[-1], 0)))
        return done

    def collection_model(self, collection_id: Any) -> dict[str, Any]:
        """The stored model of a collection, by id (Chroma's NotFoundError when there is none)."""
        record = self.catalog.get_collection_by_id(str(collection_id))
        if record is None:
            raise NotFoundError(f"Collection [{collection_id}] does not exist")
        return record

    def create_store(self, collection_id: str) -> None:
        """Make the files of a new collection (before the catalog lists it)."""
        CollectionStore.create_files(self.storage, collection_id)

    def drop_stores(self, collection_ids: Iterable[str], commit: Callable[[], T]) -> T:
        """Delete collections: under their write locks (taken in id order), ``commit()`` removes them
        from the catalog (the deletion's commit point), then their folders go to the trash. A
        writer waiting for one of the locks, in any process, then finds its collection gone."""
        with self._mutex:
            stores = [self._stores.pop(cid) if cid in self._stores else CollectionStore(self.storage, cid)
                      for cid in sorted(set(collection_ids))]
        with ExitStack() as stack:
            held = [store for store in stores if stack.enter_context(store.deleting())]
            result = commit()
            for store in held:
                store.move_to_trash()
        empty_trash(self.storage)
        return result


_systems: dict[str, System] = {}
_systems_lock = threading.Lock()
_ephemeral_dirs: list[str] = []


def _is_url(path: str) -> bool:
    scheme, sep, _ = str(path).partition("://")
    return bool(sep) and scheme.isidentifier()


def _storage_for(settings: Settings, key: str) -> Storage:
    """The storage of a persistent client: a local folder, or ``s3://bucket/prefix`` (endpoint and
    credentials from the ``s3_*`` settings, else the standard AWS environment variables)."""
    if not _is_url(key):
        return Storage.local(key, durable=settings.durable)
    return Storage.for_path(key, endpoint_url=settings.s3_endpoint_url, region=settings.s3_region,
                            access_key_id=settings.s3_access_key_id,
                            secret_access_key=settings.s3_secret_access_key, cache_dir=settings.s3_cache_dir,
                            cache_bytes=settings.s3_cache_bytes)


def system_for(settings: Settings) -> System:
    """The process's one :class:`System` for the storage root of ``settings``."""
    if settings.is_persistent:
        path = str(settings.persist_directory)
        key = path.rstrip("/") if _is_url(path) else os.path.realpath(os.path.abspath(path))
    else:
        key = ":ephemeral:"
    with _systems_lock:
        system = _systems.get(key)
        if system is None:
            if settings.is_persistent:
                if not _is_url(key):
                    refuse_chroma_directory(str(settings.persist_directory))
                storage = _storage_for(settings, key)
            else:
                tmp = tempfile.mkdtemp(prefix="chroma-frame-ephemeral-")
                _ephemeral_dirs.append(tmp)
                storage = Storage.local(tmp, durable=False)
            system = _systems[key] = System(storage, settings)
        return system


@atexit.register
def _remove_ephemeral_dirs() -> None:
    for path in _ephemeral_dirs:
        shutil.rmtree(path, ignore_errors=True)


class AdminClient:
    """Tenants and databases."""

    _settings: Settings

    def __new__(cls, settings: Optional[Settings] = None, tenant: str = DEFAULT_TENANT,
                database: str = DEFAULT_DATABASE) -> Any:
        # chroma_api_impl "chromadb.api.fastapi.FastAPI": an HTTP client, as chromadb.Client(settings) gives
        settings = settings or config.Settings()
        mode = config.api_mode(settings)
        if mode == "local":
            client = super().__new__(cls)
            client._settings = settings  # __init__ keeps it: reading the environment again costs ~5 ms
            return client
        if mode == "async_http":
            raise ValueError(f"chroma_api_impl {config.ASYNC_HTTP_API!r} is served by "
                             "`await chromadb.AsyncHttpClient(...)`; use chromadb.api.fastapi.FastAPI with Client()")
        from chroma_frame.http_client import HttpClient

        return HttpClient(str(settings.chroma_server_host), settings.chroma_server_http_port or 8000,
                          bool(settings.chroma_server_ssl_enabled), settings=settings, tenant=tenant, database=database)

    def __init__(self, settings: Optional[Settings] = None) -> None:
        self._settings = settings or self._settings
        self._system = system_for(self._settings)
        if self._settings.chroma_frame_model_dir:
            from chroma_frame.embeddings.model_files import set_model_dir

            set_model_dir(self._settings.chroma_frame_model_dir)

    def __repr__(self) -> str:
        settings = self._settings
        return f"AdminClient(path={settings.persist_directory!r})" if settings.is_persistent else "AdminClient()"

    @property
    def _catalog(self) -> Catalog:
        return self._system.catalog

    def create_tenant(self, name: str) -> None:
        v.check_tenant_name(name)
        self._catalog.create_tenant(name)

    def get_tenant(self, name: str) -> dict[str, str]:
        if not self._catalog.tenant_exists(name):
            raise NotFoundError(f"Tenant [{name}] not found")
        return {"name": name}

    def create_database(self, name: str, tenant: str = DEFAULT_TENANT) -> None:
        v.check_database_name(name)
        self._catalog.create_database(name, tenant)

    def get_database(self, name: str, tenant: str = DEFAULT_TENANT) -> dict[str, Any]:
        db = self._catalog.get_database(name, tenant)
        if db is None:
            raise NotFoundError(f"Database [{name}] not found. Are you sure it exists?")
        return _database(db)

    def delete_database(self, name: str, tenant: str = DEFAULT_TENANT) -> None:
        listed = [c["id"] for c in self._catalog.list_collections(tenant, name)]
        gone = self._system.drop_stores(listed, lambda: self._catalog.delete_database(name, tenant))
        self._system.drop_stores(set(gone) - set(listed), lambda: None)  # created meanwhile

    def list_databases(self, limit: Optional[int] = None, offset: Optional[int] = None,
                       tenant: str = DEFAULT_TENANT) -> list[dict[str, Any]]:
        dbs = sorted((_database(d) for d in self._catalog.list_databases(tenant)), key=lambda d: d["name"])
        return _page(dbs, limit, offset)


def _database(record: dict[str, str]) -> dict[str, Any]:
    return {"id": uuid.UUID(record["id"]), "name": record["name"], "tenant": record["tenant"]}


def _page(items: list, limit: Optional[int], offset: Optional[int]) -> list:
    limit, start = v.check_limit_offset(limit, offset, "get")
    return items[start : None if limit is None else start + limit]


class Client(SQLMethods, AdminClient):
    """Chroma's ``ClientAPI``: collections of the current tenant and database."""

    def __init__(self, settings: Optional[Settings] = None, tenant: str = DEFAULT_TENANT,
                 database: str = DEFAULT_DATABASE) -> None:
        super().__init__(settings)
        self.tenant = tenant
        self.database = database
        self.set_tenant(tenant, database)

    def __repr__(self) -> str:
        where = (f"PersistentClient(path={self._settings.persist_directory!r}, " if self._settings.is_persistent
                 else "EphemeralClient(")
        return f"{where}tenant={self.tenant!r}, database={self.database!r})"

    # -- tenancy -------------------------------------------------------------------------
    def set_tenant(self, tenant: str, database: str = DEFAULT_DATABASE) -> None:
        self.get_tenant(tenant)
        self.get_database(database, tenant)
        self.tenant, self.database = tenant, database

    def set_database(self, database: str) -> None:
        self.get_database(database, self.tenant)
        self.database = database

    # -- system --------------------------------------------------------------------------
    def heartbeat(self) -> int:
        return time.time_ns()

    def get_version(self) -> str:
        return VERSION

    def get_settings(self) -> Settings:
        return self._settings

    def get_max_batch_size(self) -> int:
        return v.MAX_BATCH_SIZE

    def get_user_identity(self) -> dict[str, Any]:
        return {"user_id": "", "tenant": self.tenant, "databases": [self.database]}

    def reset(self) -> bool:
        if not self._settings.allow_reset:
            raise AuthorizationError("Reset is disabled by config")
        listed = [c["id"] for c in self._catalog.all_collections()]
        gone = self._system.drop_stores(listed, self._catalog.reset)  # under their write locks
        self._system.drop_stores(set(gone) - set(listed), lambda: None)  # created meanwhile
        return True

    def close(self) -> None:
        """Kept for Chroma compatibility; files are closed after every call."""

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @staticmethod
    def clear_system_cache() -> None:
        with _systems_lock:
            _systems.clear()

    # -- collections ---------------------------------------------------------------------
    def count_collections(self) -> int:
        return len(self._catalog.list_collections(self.tenant, self.database))

    def list_collections(self, limit: Optional[int] = None, offset: Optional[int] = None) -> list[Collection]:
        records = _page(self._catalog.list_collections(self.tenant, self.database), limit, offset)
        return [self._collection(r, DEFAULT) for r in records]

    def create_collection(self, name: str, schema: Any = None, configuration: Optional[dict] = None,
                          metadata: Optional[dict] = None, embedding_function: Any = DEFAULT,
                          data_loader: Any = None, get_or_create: bool = False) -> Collection:
        ef_config, default_space = embedding_function_config(embedding_function, configuration)
        user_schema = schema_json(schema)
        config = v.prepare_create_collection(name, metadata, configuration, default_space)
        config["embedding_function"] = ef_config
        stored_schema, config = reconcile(user_schema, config)
        register_schema_functions(schema)
        record = {
            "id": str(uuid.uuid4()),
            "name": name,
            "tenant": self.tenant,
            "database": self.database,
            "metadata": metadata,
            "configuration_json": config,
        }
        if stored_schema != schema_from_configuration(config):  # else it is derived when read
            record["serialized_schema"] = stored_schema
        stored, created = self._create_record(record, get_or_create)
        return self._collection(stored, embedding_function, data_loader, creating=created)

    def _create_record(self, record: dict, get_or_create: bool,
                       make_files: Optional[Callable[[str], None]] = None) -> tuple[dict, bool]:
        """List ``record`` in the catalog, its folder made first (by ``make_files(id)``, else
        empty): a collection in the catalog always has its files, whichever process looks."""
        if self._catalog.get_collection(record["name"], self.tenant, self.database) is not None:
            return self._catalog.create_collection(record, get_or_create=get_or_create)  # no files needed
        (make_files or self._system.create_store)(record["id"])
        stored, created = None, False
        try:
            stored, created = self._catalog.create_collection(record, get_or_create=get_or_create)
        finally:
            if not created:  # the name was taken meanwhile: nobody knows this id, remove its folder
                self._system.storage.delete_dir(f"collections/{record['id']}")
        return stored, created

    def _fork_collection(self, source: Collection, new_name: str, as_of: Any = None) -> Collection:
        """A new collection ``new_name`` sharing ``source``'s files as of ``as_of`` (see
        :meth:`Collection.fork`)."""
        model = source._record
        v.prepare_create_collection(new_name, None, None, None)  # the name rules of create_collection
        record = {key: value for key, value in model.items() if key not in ("id", "name")}
        record.update(id=str(uuid.uuid4()), name=new_name, tenant=self.tenant, database=self.database)
        store = self._system.store(model["id"])
        version = None if as_of is None else resolve_version(store, as_of)
        stored, _ = self._create_record(record, False, lambda new_id: fork(store, new_id, version))
        return self._collection(stored, source._embedding_function, source._data_loader)

    def vacuum(self, older_than: Optional[float] = None) -> dict[str, int]:
        """Delete the versions of every collection superseded more than ``older_than`` seconds
        ago (default: the ``history_retention`` setting; never a current version) and every file
        no kept version lists. Safe while other readers and writers run. Returns counts of
        ``versions`` and ``files`` deleted and the ``bytes`` freed."""
        done = self._system.vacuum(older_than)
        return {"versions": done.versions, "files": done.files, "bytes": done.bytes}

    def get_or_create_collection(self, name: str, schema: Any = None, configuration: Optional[dict] = None,
                                 metadata: Optional[dict] = None, embedding_function: Any = DEFAULT,
                                 data_loader: Any = None) -> Collection:
        return self.create_collection(name, schema, configuration, metadata, embedding_function,
                                      data_loader, get_or_create=True)

    def get_collection(self, name: str, embedding_function: Any = DEFAULT, data_loader: Any = None) -> Collection:
        record = self._catalog.get_collection(name, self.tenant, self.database)
        if record is None:
            raise NotFoundError(f"Collection [{name}] does not exist")
        return self._collection(record, embedding_function, data_loader)

    def get_collection_by_id(self, id: Any, embedding_function: Any = DEFAULT, data_loader: Any = None) -> Collection:
        return self._collection(self._system.collection_model(id), embedding_function, data_loader)

    def delete_collection(self, name: str) -> None:
        record = self._catalog.get_collection(name, self.tenant, self.database)
        if record is None:
            raise NotFoundError(f"Collection [{name}] does not exist")
        gone = self._system.drop_stores(
            [record["id"]], lambda: self._catalog.delete_collection(name, self.tenant, self.database))
        if gone != record["id"]:  # the name was deleted and created again meanwhile: drop that one
            self._system.drop_stores([gone], lambda: None)

    def _collection(self, record: dict, embedding_function: Any, data_loader: Any = None,
                    creating: bool = False) -> Collection:
        persisted = record["configuration_json"].get("embedding_function")
        ef = bind_embedding_function(persisted, embedding_function, on="create" if creating else "get")
        return Collection(self, record, ef, data_loader)

    def _modify_collection(self, model: dict[str, Any], *, name: Optional[str], metadata: Optional[dict],
                           configuration: Optional[dict]) -> dict[str, Any]:
        stored_metadata, config = v.prepare_modify_collection(
            model["configuration_json"], name, metadata, configuration
        )
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = name
        if metadata is not None:
            changes["metadata"] = stored_metadata
        if configuration is not None:
            update = configuration.get("embedding_function")
            if isinstance(update, dict):  # a persisted config, from an HTTP client that checked it
                config["embedding_function"] = update
            elif update is not None:
                config["embedding_function"] = updated_embedding_function_config(
                    model["configuration_json"].get("embedding_function"), update)
            changes["configuration_json"] = config
            if model.get("serialized_schema") is not None:
                changes["serialized_schema"] = apply_configuration(model["serialized_schema"], config)
        if not changes:
            return model
        return self._catalog.update_collection(str(uuid.UUID(model["id"])), **changes)


def EphemeralClient(settings: Optional[Settings] = None, tenant: str = DEFAULT_TENANT,
                    database: str = DEFAULT_DATABASE) -> Client:
    """An in-process client whose data lives as long as the process."""
    settings = settings or config.Settings()
    settings.chroma_api_impl = config.RUST_API
    settings.is_persistent = False
    return Client(settings, tenant, database)


def PersistentClient(path: str | os.PathLike = "./chroma", settings: Optional[Settings] = None,
                     tenant: str = DEFAULT_TENANT, database: str = DEFAULT_DATABASE) -> Client:
    """A client over the collection files under ``path``."""
    settings = settings or config.Settings()
    settings.chroma_api_impl = config.RUST_API
    settings.is_persistent = True
    settings.persist_directory = os.fspath(path)
    return Client(settings, tenant, database)


__all__ = ["Client", "AdminClient", "EphemeralClient", "PersistentClient", "System", "VERSION",
           "InvalidArgumentError"]
