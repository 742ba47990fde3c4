"""Differential checks of the client surface: tenants, databases, collections, names, configuration.

Every call runs on chromadb 1.5.9 (the oracle) and on chroma_frame; results, or exception class
names and messages, must agree.

chromadb clients in one process share one in-memory system, and a client with different settings
is refused ("An instance of Chroma already exists for ephemeral with different settings"), so the
chromadb side uses default settings everywhere (as the other test files do) and every test works
in its own freshly created tenant and database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

import chroma_frame
from tests.differential.support import Outcome, assert_same_typed, check_outcomes, run

chromadb = pytest.importorskip("chromadb")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Side:
    admin: Any
    client: Any


@dataclass
class Env:
    """The same fresh tenant and database on both sides, and clients bound to them."""

    tenant: str
    database: str
    chroma: Side
    frame: Side
    frame_path: str

    failures: list = field(default_factory=list)

    def call(self, what: str, fn: Callable[[Side, Any], Any]) -> tuple[Outcome, Outcome, bool]:
        """Run ``fn(side, lib)`` on chromadb then chroma_frame; compare how they ended.

        A difference is recorded and the test goes on, so that one test reports every difference
        of its sequence; ``done()`` fails the test at the end."""
        expected = run(fn, self.chroma, chromadb)
        actual = run(fn, self.frame, chroma_frame)
        try:
            return expected, actual, check_outcomes(expected, actual, what)
        except AssertionError as exc:
            self.failures.append(str(exc))
            return expected, actual, False

    def same(self, what: str, fn: Callable[[Side, Any], Any], compare: Callable[[Any], Any] = lambda x: x) -> Any:
        """Like ``call``; when both succeed, ``compare(result)`` must be equal (types included)."""
        expected, actual, ok = self.call(what, fn)
        if ok:
            try:
                assert_same_typed(compare(expected.value), compare(actual.value), what)
            except AssertionError as exc:
                self.failures.append(str(exc))
        return expected.value, actual.value

    def check(self, condition: bool, message: str) -> None:
        if not condition:
            self.failures.append(message)

    def done(self) -> None:
        if self.failures:
            pytest.fail(f"{len(self.failures)} difference(s):\n\n" + "\n\n".join(self.failures), pytrace=False)


@pytest.fixture
def env(tmp_path) -> Env:
    path = str(tmp_path / "frame")
    tenant, database = unique("tn"), unique("db")
    chroma_admin = chromadb.AdminClient()
    frame_admin = chroma_frame.AdminClient(
        chroma_frame.Settings(is_persistent=True, persist_directory=path, allow_reset=True)
    )
    for admin in (chroma_admin, frame_admin):
        admin.create_tenant(tenant)
        admin.create_database(database, tenant=tenant)
    return Env(
        tenant,
        database,
        Side(chroma_admin, chromadb.Client(tenant=tenant, database=database)),
        Side(frame_admin, chroma_frame.PersistentClient(
            path=path, settings=chroma_frame.Settings(allow_reset=True), tenant=tenant, database=database)),
        path,
    )


def names(collections) -> list[str]:
    return [c.name for c in collections]


def collection_view(col) -> dict:
    """What must agree about a collection object (the id is random on both sides)."""
    return {
        "name": col.name,
        "metadata": col.metadata,
        "configuration_json": col.configuration_json,
        "tenant": col.tenant,
        "database": col.database,
        "id_is_uuid": isinstance(col.id, uuid.UUID),
        "repr": repr(col),
    }


def database_view(db: dict) -> dict:
    return {"keys": sorted(db), "name": db["name"], "tenant": db["tenant"], "id_is_uuid": isinstance(db["id"], uuid.UUID)}


# -- tenants and databases ------------------------------------------------------------------------


def test_tenants(env: Env) -> None:
    name = unique("tenant")
    env.same("create_tenant(new)", lambda s, lib: s.admin.create_tenant(name))
    env.same("get_tenant(new)", lambda s, lib: s.admin.get_tenant(name))
    env.same("create_tenant(existing)", lambda s, lib: s.admin.create_tenant(name))
    env.same("get_tenant(missing)", lambda s, lib: s.admin.get_tenant(name + "-missing"))
    env.same("get_tenant(default)", lambda s, lib: s.admin.get_tenant("default_tenant"))
    env.done()


@pytest.mark.parametrize("name", ["", "a", "ab", "a b", "ab/c", "-ab", "x" * 600])
def test_tenant_name_errors(env: Env, name: str) -> None:
    env.same(f"create_tenant({name!r})", lambda s, lib: s.admin.create_tenant(name))
    env.done()


def test_databases(env: Env) -> None:
    t = env.tenant
    for db in ["zzz-db", "aaa-db", "mmm-db"]:
        env.same(f"create_database({db})", lambda s, lib: s.admin.create_database(db, tenant=t))
    env.same("get_database", lambda s, lib: s.admin.get_database("aaa-db", tenant=t), database_view)
    env.same("list_databases", lambda s, lib: s.admin.list_databases(tenant=t),
             lambda dbs: [database_view(d) for d in dbs])
    for limit, offset in [(2, None), (None, 2), (1, 1), (0, None), (None, 10), (10, 0), (-1, None), (None, -1)]:
        env.same(f"list_databases(limit={limit}, offset={offset})",
                 lambda s, lib: s.admin.list_databases(limit=limit, offset=offset, tenant=t),
                 lambda dbs: [d["name"] for d in dbs])
    env.same("create_database(existing)", lambda s, lib: s.admin.create_database("aaa-db", tenant=t))
    env.same("delete_database", lambda s, lib: s.admin.delete_database("mmm-db", tenant=t))
    env.same("delete_database(deleted)", lambda s, lib: s.admin.delete_database("mmm-db", tenant=t))
    env.same("get_database(deleted)", lambda s, lib: s.admin.get_database("mmm-db", tenant=t))
    env.same("list_databases after delete", lambda s, lib: s.admin.list_databases(tenant=t),
             lambda dbs: [d["name"] for d in dbs])
    missing_tenant = unique("tn")
    env.same("get_database(missing tenant)", lambda s, lib: s.admin.get_database("aaa-db", tenant=missing_tenant))
    env.same("list_databases(missing tenant)", lambda s, lib: s.admin.list_databases(tenant=missing_tenant))
    env.done()


def test_create_database_in_missing_tenant(env: Env) -> None:
    tenant = unique("nt")
    env.same("create_database(missing tenant)", lambda s, lib: s.admin.create_database("dbx", tenant=tenant))
    env.same("get_database(created in missing tenant)", lambda s, lib: s.admin.get_database("dbx", tenant=tenant),
             database_view)
    env.done()


@pytest.mark.parametrize("name", ["", "a", "ab", "abc", "a b c", "-abc", "a..b", "10.0.0.1", "ÄBC", "d" * 513])
def test_database_names(env: Env, name: str) -> None:
    env.same(f"create_database({name!r})", lambda s, lib: s.admin.create_database(name, tenant=env.tenant))
    env.done()


def test_client_for_missing_tenant_or_database(env: Env) -> None:
    def make(tenant: str, database: str):
        def fn(side, lib):
            if lib is chromadb:
                return chromadb.Client(tenant=tenant, database=database)
            return chroma_frame.PersistentClient(path=env.frame_path, tenant=tenant, database=database)
        return fn

    missing_tenant = unique("tn")
    env.call("Client(missing database)", make(env.tenant, "no-such-db"))
    env.call("Client(missing tenant)", make(missing_tenant, env.database))
    env.same("set_database(missing)", lambda s, lib: s.client.set_database("no-such-db"))
    env.same("set_tenant(missing)", lambda s, lib: s.client.set_tenant(missing_tenant))
    env.same("set_tenant(existing, missing db)", lambda s, lib: s.client.set_tenant(env.tenant, "no-such-db"))


# -- collections ----------------------------------------------------------------------------------
    env.done()


def test_collection_lifecycle(env: Env) -> None:
    env.same("count_collections (empty)", lambda s, lib: s.client.count_collections())
    env.same("list_collections (empty)", lambda s, lib: names(s.client.list_collections()))
    env.same("create_collection",
             lambda s, lib: s.client.create_collection("abc", metadata={"x": 1, "y": "s", "z": 1.5, "b": True},
                                                       embedding_function=None), collection_view)
    env.same("get_collection", lambda s, lib: s.client.get_collection("abc", embedding_function=None), collection_view)
    env.same("create_collection(existing)",
             lambda s, lib: s.client.create_collection("abc", embedding_function=None))
    env.same("get_or_create_collection(existing, new metadata and configuration)",
             lambda s, lib: s.client.get_or_create_collection(
                 "abc", metadata={"other": 2}, configuration={"hnsw": {"space": "ip"}}, embedding_function=None),
             collection_view)
    env.same("get_or_create_collection(new)",
             lambda s, lib: s.client.get_or_create_collection("abd", metadata={"k": "v"}, embedding_function=None),
             collection_view)
    env.same("get_collection(missing)", lambda s, lib: s.client.get_collection("nope", embedding_function=None))
    env.same("count_collections", lambda s, lib: s.client.count_collections())
    env.same("list_collections", lambda s, lib: sorted(names(s.client.list_collections())))
    env.same("delete_collection", lambda s, lib: s.client.delete_collection("abc"))
    env.same("delete_collection(deleted)", lambda s, lib: s.client.delete_collection("abc"))
    env.same("get_collection(deleted)", lambda s, lib: s.client.get_collection("abc", embedding_function=None))
    env.same("count_collections after delete", lambda s, lib: s.client.count_collections())
    env.same("list_collections after delete", lambda s, lib: names(s.client.list_collections()))
    env.done()


def test_get_collection_by_id(env: Env) -> None:
    missing = uuid.uuid4()
    env.same("get_collection_by_id(missing)",
             lambda s, lib: s.client.get_collection_by_id(missing, embedding_function=None))
    env.same("get_collection_by_id(existing)",
             lambda s, lib: s.client.get_collection_by_id(
                 s.client.create_collection("byid", embedding_function=None).id, embedding_function=None),
             collection_view)
    env.done()


def test_list_collections_paging(env: Env) -> None:
    created = ["zzz", "aaa", "mmm", "bbb", "yyy"]
    for name in created:
        env.same(f"create_collection({name})", lambda s, lib: s.client.create_collection(name, embedding_function=None).name)
    chroma_all = env.chroma.client.list_collections()
    frame_all = env.frame.client.list_collections()
    assert sorted(names(frame_all)) == sorted(names(chroma_all)) == sorted(created)
    # chromadb lists collections ordered by their random ids, an order nobody can rely on; only the
    # paging must be consistent with the full listing
    for limit, offset in [(2, None), (None, 3), (2, 1), (0, None), (None, 9), (10, 0), (-1, None), (None, -1)]:
        expected, actual, ok = env.call(
            f"list_collections(limit={limit}, offset={offset})",
            lambda s, lib: names(s.client.list_collections(limit=limit, offset=offset)))
        if ok:
            start = offset or 0
            stop = None if limit is None else start + limit
            env.check(len(actual.value) == len(expected.value), f"list_collections(limit={limit}, offset={offset}): "
                      f"{len(expected.value)} vs {len(actual.value)} collections")
            env.check(actual.value == names(frame_all)[start:stop], f"list_collections(limit={limit}, "
                      f"offset={offset}) is not a page of the full list: {actual.value} vs {names(frame_all)}")
    env.done()


def test_modify(env: Env) -> None:
    env.same("create", lambda s, lib: s.client.create_collection("first", metadata={"a": 1}, embedding_function=None).name)
    env.same("create", lambda s, lib: s.client.create_collection("second", embedding_function=None).name)

    def modify(_name: str = "first", **kwargs):
        def fn(side, lib):
            col = side.client.get_collection(_name, embedding_function=None)
            col.modify(**kwargs)
            # chromadb's object shows {"type": "legacy"} as its embedding function config after a
            # configuration change but stores None: compare the object without it, and the stored one
            # (the same for metadata={"a": None}: the object shows it, the store keeps None)
            local = {k: v for k, v in collection_view(col).items() if k not in ("configuration_json", "metadata")}
            return {"object": local, "stored": collection_view(side.client.get_collection_by_id(col.id))}
        return fn

    env.same("modify(name=renamed)", modify(name="renamed"))
    env.same("get_collection(old name)", lambda s, lib: s.client.get_collection("first", embedding_function=None))
    env.same("get_collection(new name)", lambda s, lib: s.client.get_collection("renamed", embedding_function=None),
             collection_view)
    env.same("modify(name=existing)", modify(_name="renamed", name="second"))
    env.same("modify(name=invalid)", modify(_name="renamed", name="ab"))
    env.same("modify(name=same)", modify(_name="renamed", name="renamed"))
    env.same("modify(metadata=replace)", modify(_name="renamed", metadata={"b": "two", "c": 3.5}))
    env.same("get after metadata replace",
             lambda s, lib: s.client.get_collection("renamed", embedding_function=None), collection_view)
    env.same("modify(metadata={})", modify(_name="renamed", metadata={}))
    env.same("modify(metadata hnsw:space change)", modify(_name="renamed", metadata={"hnsw:space": "ip"}))
    env.same("modify(metadata hnsw:space same)", modify(_name="renamed", metadata={"hnsw:space": "l2"}))
    env.same("modify(configuration space)", modify(_name="renamed", configuration={"hnsw": {"space": "ip"}}))
    env.same("modify(configuration ef_search)", modify(_name="renamed", configuration={"hnsw": {"ef_search": 42}}))
    env.same("get after configuration change",
             lambda s, lib: s.client.get_collection("renamed", embedding_function=None), collection_view)
    env.same("modify(configuration unknown key)", modify(_name="renamed", configuration={"hnsw": {"foo": 1}}))
    env.same("modify(metadata None value)", modify(_name="renamed", metadata={"a": None}))
    env.done()


VALID_NAMES = ["abc", "ABC", "a1b", "1ab", "ab_c.d-e", "a-b", "x.y.z", "1.2.3", "a" * 63, "a" * 64, "a" * 512]
INVALID_NAMES = [
    "", "a", "ab", "a" * 513, "-abc", "abc-", "_ab", "ab_", ".ab", "ab.", "a b", "ÄBC", "abc/",
    "a..b", "ab..", "10.0.0.1", "255.255.255.255", "a\tb", "abc\n",
]


@pytest.mark.parametrize("name", VALID_NAMES + INVALID_NAMES, ids=lambda n: repr(n[:20]) + f"/{len(n)}")
def test_collection_names(env: Env, name: str) -> None:
    env.same(f"create_collection({name!r})",
             lambda s, lib: s.client.create_collection(name, embedding_function=None), collection_view)
    env.same(f"get_collection({name!r})",
             lambda s, lib: s.client.get_collection(name, embedding_function=None).name)
    env.same(f"get_or_create_collection({name!r})",
             lambda s, lib: s.client.get_or_create_collection(name, embedding_function=None).name)
    env.done()


@pytest.mark.parametrize("name", INVALID_NAMES[:6] + ["a..b", "10.0.0.1"])
def test_rename_to_invalid_name(env: Env, name: str) -> None:
    env.same("create", lambda s, lib: s.client.create_collection("valid-name", embedding_function=None).name)
    env.same(f"modify(name={name!r})",
             lambda s, lib: s.client.get_collection("valid-name", embedding_function=None).modify(name=name))
    env.done()


CONFIG_CASES = {
    "defaults, no embedding function": dict(),
    "configuration, every hnsw field": dict(configuration={"hnsw": {
        "space": "cosine", "ef_construction": 200, "ef_search": 50, "max_neighbors": 32,
        "resize_factor": 1.5, "sync_threshold": 500, "num_threads": 2, "batch_size": 50}}),
    "configuration, space only": dict(configuration={"hnsw": {"space": "ip"}}),
    "configuration {}": dict(configuration={}),
    "configuration hnsw {}": dict(configuration={"hnsw": {}}),
    "legacy metadata": dict(metadata={
        "hnsw:space": "ip", "hnsw:M": 8, "hnsw:construction_ef": 64, "hnsw:search_ef": 20,
        "hnsw:num_threads": 2, "hnsw:batch_size": 10, "hnsw:sync_threshold": 20, "hnsw:resize_factor": 1.5}),
    "legacy metadata, space only, plus a user key": dict(metadata={"hnsw:space": "cosine", "owner": "me"}),
    "configuration wins over metadata": dict(configuration={"hnsw": {"space": "cosine"}}, metadata={"hnsw:space": "ip"}),
    "configuration and metadata merge": dict(configuration={"hnsw": {"ef_search": 11}}, metadata={"hnsw:space": "ip"}),
    "spann configuration": dict(configuration={"spann": {"space": "cosine"}}),
    "hnsw and spann": dict(configuration={"hnsw": {"space": "l2"}, "spann": {"space": "l2"}}),
    "unknown hnsw key": dict(configuration={"hnsw": {"foo": 1}}),
    "bad space": dict(configuration={"hnsw": {"space": "manhattan"}}),
    "bad legacy space": dict(metadata={"hnsw:space": "manhattan"}),
    "sync_threshold 1": dict(configuration={"hnsw": {"sync_threshold": 1}}),
    "batch_size 1": dict(configuration={"hnsw": {"batch_size": 1}}),
    "legacy hnsw:M as a string": dict(metadata={"hnsw:M": "8"}),
    "collection metadata {}": dict(metadata={}),
    "collection metadata None value": dict(metadata={"a": None}),
    "collection metadata dict value": dict(metadata={"a": {"b": 1}}),
    "collection metadata scalars": dict(metadata={"s": "x", "i": 2**40, "f": 0.25, "b": False, "neg": -1}),
}


@pytest.mark.parametrize("embedding_function", ["none", "default"])
@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_configuration_json(env: Env, case: str, embedding_function: str) -> None:
    kwargs = CONFIG_CASES[case]

    def create(side, lib):
        extra = {"embedding_function": None} if embedding_function == "none" else {}
        return side.client.create_collection("configured", **kwargs, **extra)

    env.same(f"create_collection({kwargs}, ef={embedding_function})", create, collection_view)
    env.same("get_collection", lambda s, lib: s.client.get_collection("configured", embedding_function=None),
             collection_view)
    env.done()


def test_get_or_create_ignores_new_metadata(env: Env) -> None:
    env.same("create", lambda s, lib: s.client.create_collection(
        "goc", metadata={"hnsw:space": "cosine", "v": 1}, embedding_function=None), collection_view)
    env.same("get_or_create with other metadata", lambda s, lib: s.client.get_or_create_collection(
        "goc", metadata={"hnsw:space": "ip", "v": 2, "w": 3}, embedding_function=None), collection_view)
    env.same("get_or_create with other configuration", lambda s, lib: s.client.get_or_create_collection(
        "goc", configuration={"hnsw": {"space": "l2", "ef_search": 7}}, embedding_function=None), collection_view)
    env.same("get", lambda s, lib: s.client.get_collection("goc", embedding_function=None), collection_view)
    env.done()


def test_reset_refused_without_allow_reset(tmp_path) -> None:
    expected = run(lambda: chromadb.EphemeralClient().reset())
    actual = run(lambda: chroma_frame.PersistentClient(path=str(tmp_path / "noreset")).reset())
    check_outcomes(expected, actual, "reset() without allow_reset")
    assert not expected.ok


def test_version_and_limits(env: Env) -> None:
    env.same("get_version", lambda s, lib: s.client.get_version())
    env.same("get_max_batch_size", lambda s, lib: s.client.get_max_batch_size())
    env.same("heartbeat type", lambda s, lib: type(s.client.heartbeat()).__name__)
    env.done()


