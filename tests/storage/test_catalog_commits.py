"""The catalog commits without locks, the same on a local folder and on S3 (moto's server).

Each edit creates the next immutable version ``catalog/<n>.json`` if absent; a writer that loses
re-reads and re-runs its edit. Here several processes edit one catalog at once: nothing is lost,
a name is taken once, readers never see a torn version, a legacy ``catalog.json`` is read and
upgraded, and a writer killed mid-edit leaves a catalog that opens.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from chroma_frame.errors import InternalError
from chroma_frame.storage import catalog as catalog_module
from chroma_frame.storage.catalog import (
    CATALOG,
    Catalog,
    MissingCatalogError,
    catalog_versions,
    collection_folders,
    delete_catalog_versions,
    load_catalog,
    read_description,
)
from chroma_frame.storage.fs import Storage
from chroma_frame.storage.integrity import CorruptFileError, json_with_checksum
from tests.conftest import ROOT

DEFAULTS = {"tenant": "default_tenant", "database": "default_database"}


def record(name: str, **extra) -> dict:
    return {"id": str(uuid.uuid4()), "name": name, **DEFAULTS, "metadata": None, "configuration_json": {}, **extra}


# A process that opens the catalog, says "ready", waits for "go", then creates the collections of
# its plan, printing one JSON line per outcome as soon as it is acknowledged.
_WORKER = """
import json, sys, uuid
from chroma_frame.errors import InternalError
from chroma_frame.storage.catalog import Catalog
from chroma_frame.storage.fs import Storage
url, settings, plan = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
catalog = Catalog(Storage.for_path(url, **settings))
print("ready", flush=True)
sys.stdin.readline()
for name in plan["names"]:
    rec = {"id": str(uuid.uuid4()), "name": name, "tenant": "default_tenant", "database": "default_database",
           "metadata": {"by": plan["me"]}, "configuration_json": {}}
    try:
        stored, created = catalog.create_collection(rec, get_or_create=plan["get_or_create"])
        print(json.dumps({"name": name, "id": stored["id"], "created": created, "tried": rec["id"]}), flush=True)
    except InternalError as exc:
        print(json.dumps({"name": name, "error": str(exc), "tried": rec["id"]}), flush=True)
print("done", flush=True)
"""


def start(url: str, settings: dict, plans: list[dict]) -> list[subprocess.Popen]:
    """Worker processes, each ready (its catalog open) when this returns."""
    env = {**os.environ, "PYTHONPATH": ROOT}
    workers = [subprocess.Popen([sys.executable, "-c", _WORKER, url, json.dumps(settings), json.dumps(plan)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env) for plan in plans]
    for w in workers:
        assert w.stdout.readline().strip() == "ready"
    return workers


def go(workers: list[subprocess.Popen]) -> None:
    for w in workers:
        w.stdin.write("go\n")
        w.stdin.flush()


def outcomes(worker: subprocess.Popen) -> list[dict]:
    lines = []
    for line in worker.stdout:
        if line.strip() == "done":
            break
        lines.append(json.loads(line))
    worker.stdin.close()
    assert worker.wait(timeout=60) == 0
    return lines


def run(url: str, settings: dict, plans: list[dict]) -> list[list[dict]]:
    workers = start(url, settings, plans)
    go(workers)
    return [outcomes(w) for w in workers]


def described_ids(storage: Storage) -> set[str]:
    """Ids of the collections whose folder describes them as live."""
    found = set()
    for cid in collection_folders(storage):
        doc = read_description(storage, cid)
        if doc is not None and not doc["deleted"]:
            found.add(cid)
    return found


def test_concurrent_creates_lose_nothing(backend):
    storage, url, settings = backend
    plans = [{"me": i, "names": [f"p{i}-c{j}" for j in range(8)], "get_or_create": False} for i in range(4)]
    results = run(url, settings, plans)
    acknowledged = {r["name"]: r["id"] for rs in results for r in rs}
    assert all("error" not in r for rs in results for r in rs)
    assert len(acknowledged) == 32
    listed = {c["name"]: c["id"] for c in Catalog(storage).all_collections()}
    assert listed == acknowledged  # every acknowledged create is there, with its id
    assert catalog_versions(storage) == list(range(1, 34))  # the first (empty) version, then one per create
    assert described_ids(storage) == set(acknowledged.values())


@pytest.mark.parametrize("get_or_create", [False, True])
def test_racing_creates_of_one_name_have_one_winner(backend, get_or_create):
    storage, url, settings = backend
    names = [f"same-{j}" for j in range(5)]
    results = run(url, settings, [{"me": i, "names": names, "get_or_create": get_or_create} for i in range(3)])
    catalog = Catalog(storage)
    for j, name in enumerate(names):
        got = [rs[j] for rs in results]
        stored = catalog.get_collection(name, **DEFAULTS)
        winners = [r for r in got if r.get("created")]
        assert len(winners) == 1 and winners[0]["id"] == stored["id"]
        for loser in got:
            if loser is winners[0]:
                continue
            if get_or_create:
                assert loser["created"] is False and loser["id"] == stored["id"]  # the existing record
            else:
                assert loser["error"] == f"Collection [{name}] already exists"
    assert len(catalog.all_collections()) == len(names)
    assert described_ids(storage) == {c["id"] for c in catalog.all_collections()}  # losers left no description


def test_a_lost_race_reruns_the_whole_edit(backend, monkeypatch):
    """Another writer commits between this edit's read and its commit: the edit runs again on the
    fresh state, so a name taken meanwhile is refused (and the description written for the first
    try removed), and any other edit is applied on top of theirs."""
    storage = backend[0]
    ours, theirs = Catalog(storage), Catalog(storage)
    real_commit = catalog_module.commit_catalog
    attempts: list[int] = []
    theirs_turn: list[bool] = []

    def interrupted_by(rival: dict) -> None:
        def commit(storage_, state, after):
            if theirs_turn:
                return real_commit(storage_, state, after)
            attempts.append(after)
            if len(attempts) == 1:  # they commit first
                theirs_turn.append(True)
                theirs.create_collection(rival, get_or_create=False)
                theirs_turn.clear()
            return real_commit(storage_, state, after)

        attempts.clear()
        monkeypatch.setattr(catalog_module, "commit_catalog", commit)

    interrupted_by(record("taken"))
    mine = record("taken")
    with pytest.raises(InternalError, match=r"^Collection \[taken\] already exists$"):
        ours.create_collection(mine, get_or_create=False)
    assert attempts == [1]  # one commit tried (and lost); the second run refused before committing
    assert read_description(storage, mine["id"]) is None
    assert ours.get_collection("taken", **DEFAULTS)["id"] != mine["id"]
    assert catalog_versions(storage) == [1, 2]

    interrupted_by(record("first"))
    second = record("second")
    assert ours.create_collection(second, get_or_create=False) == (second, True)
    assert attempts == [2, 3]
    final = Catalog(storage).all_collections()
    assert {c["name"] for c in final} == {"taken", "first", "second"}
    assert described_ids(storage) == {c["id"] for c in final}


_WRITER = """
import sys, json, uuid
from chroma_frame.storage.catalog import Catalog
from chroma_frame.storage.fs import Storage
catalog = Catalog(Storage.for_path(sys.argv[1], **json.loads(sys.argv[2])))
print("ready", flush=True)
for i in range(int(sys.argv[3])):
    rec = {"id": str(uuid.uuid4()), "name": f"w{i}", "tenant": "default_tenant", "database": "default_database",
           "metadata": {"i": i, "pad": "x" * 2000}, "configuration_json": {}}
    catalog.create_collection(rec, get_or_create=False)
    if i % 3 == 2:
        catalog.update_collection(rec["id"], metadata={"i": i, "renamed": True})
    print(rec["id"], flush=True)
"""


def writer(url: str, settings: dict, edits: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, url, json.dumps(settings), str(edits)],
                            stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_a_reader_never_sees_a_torn_catalog(backend):
    storage, url, settings = backend
    Catalog(storage)
    proc = writer(url, settings, 30)
    reader, seen, reads = Catalog(storage), 0, 0
    try:
        while proc.poll() is None or reads < 5:
            count = len(reader.all_collections())  # the probing reader
            _, state = load_catalog(storage)  # and a fresh read of the newest version each time
            assert len(state["collections"]) >= count >= seen  # never backwards, never a partial file
            seen, reads = count, reads + 1
    finally:
        proc.stdout.read()
        assert proc.wait(timeout=60) == 0
    assert len(reader.all_collections()) == 30 and reads >= 5


def test_a_writer_killed_mid_edit_leaves_a_readable_catalog(backend):
    storage, url, settings = backend
    Catalog(storage)
    acknowledged: list[str] = []
    for delay in (0.05, 0.2, 0.4):
        proc = writer(url, settings, 10_000)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        acknowledged += proc.stdout.read().split()
        catalog = Catalog(storage)  # opens: the newest version is whole
        listed = {c["id"] for c in catalog.all_collections()}
        assert set(acknowledged) <= listed
        catalog.create_collection(record(f"after-{delay}"), get_or_create=False)  # and edits go on
    assert acknowledged, "the writer never got an edit through"


def test_a_legacy_catalog_json_is_read_then_upgraded(backend):
    storage = backend[0]
    old = record("from-before")
    legacy = {"format": 2, "tenants": ["default_tenant"], "collections": [old],
              "databases": [{"id": str(uuid.uuid4()), "name": "default_database", "tenant": "default_tenant"}]}
    storage.write_atomic(CATALOG, json_with_checksum(legacy))
    catalog = Catalog(storage)
    assert catalog.get_collection("from-before", **DEFAULTS) == old
    assert catalog_versions(storage) == []  # opening writes nothing
    catalog.create_collection(record("new-one"), get_or_create=False)
    assert catalog_versions(storage) == [1]
    assert storage.read_bytes(CATALOG) == json_with_checksum(legacy)  # left alone
    storage.write_atomic(CATALOG, b"garbage: never read again")
    fresh = Catalog(storage)
    assert {c["name"] for c in fresh.all_collections()} == {"from-before", "new-one"}
    assert catalog.get_collection("new-one", **DEFAULTS) is not None

    catalog.update_collection(old["id"], metadata={"v": 2})
    assert catalog_versions(storage) == [1, 2]
    assert delete_catalog_versions(storage, 100) == []  # superseded too recently
    assert delete_catalog_versions(storage, 100, grace=0) == [0, 1]  # the legacy file is version 0
    assert delete_catalog_versions(storage, 100, grace=0) == []  # never the newest
    assert not storage.exists(CATALOG) and catalog_versions(storage) == [2]
    assert Catalog(storage).get_collection("from-before", **DEFAULTS)["metadata"] == {"v": 2}


def test_a_lookup_checks_one_file_when_nothing_changed(backend, monkeypatch):
    storage = backend[0]
    catalog, other = Catalog(storage), Catalog(storage)
    catalog.get_collection("none-yet", **DEFAULTS)
    calls: list[str] = []
    kind = type(storage)
    for method in ("has_file", "read_bytes", "list_names", "exists"):
        real = getattr(kind, method)
        monkeypatch.setattr(kind, method, lambda self, rel, _real=real, _m=method: (
            calls.append(f"{_m} {rel}"), _real(self, rel))[1])
    assert catalog.get_collection("none-yet", **DEFAULTS) is None
    assert calls == ["has_file catalog/00000000000000000002.json"]
    other.create_collection(record("arrived"), get_or_create=False)
    calls.clear()
    assert catalog.get_collection("arrived", **DEFAULTS) is not None  # seen at once, read once
    assert sum(c.startswith("read_bytes") for c in calls) == 1
    calls.clear()
    assert catalog.tenant_exists("default_tenant") and calls == ["has_file catalog/00000000000000000003.json"]


def test_lookups_hand_out_copies(backend):
    catalog = Catalog(backend[0])
    catalog.create_collection(record("mutable", metadata={"k": 1}), get_or_create=False)
    catalog.get_collection("mutable", **DEFAULTS)["metadata"]["k"] = 2
    catalog.all_collections()[0]["name"] = "changed"
    assert catalog.get_collection("mutable", **DEFAULTS)["metadata"] == {"k": 1}


def test_a_lost_catalog_is_refused_and_a_damaged_one_named(backend):
    storage = backend[0]
    catalog = Catalog(storage)
    first = record("kept")
    catalog.create_collection(first, get_or_create=False)
    assert collection_folders(storage) == [first["id"]]
    newest = storage.read_bytes("catalog/00000000000000000002.json")
    storage.write_atomic("catalog/00000000000000000002.json", newest.replace(b'"kept"', b'"kapt"'))
    with pytest.raises(CorruptFileError, match="00000000000000000002.json") as err:
        Catalog(storage)
    assert "checksum" in str(err.value)
    storage.delete_dir("catalog")
    with pytest.raises(MissingCatalogError, match="doctor"):
        Catalog(storage)
    assert catalog_versions(storage) == []  # nothing written over the orphaned folder
