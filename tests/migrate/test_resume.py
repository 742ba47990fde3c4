"""An interrupted migration continues where it stopped and never writes a record twice; the CLI
through a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import chroma_frame
from chroma_frame.collection import Collection
from tests.migrate.conftest import ROOT, snapshot


def everything(target: str) -> dict:
    """Every record of every collection at ``target``, by (tenant, database, collection)."""
    found = {}
    for tenant, database in [("default_tenant", "default_database"), ("acme", "research")]:
        client = chroma_frame.PersistentClient(target, tenant=tenant, database=database)
        for collection in client.list_collections():
            got = collection.get(include=["embeddings", "metadatas", "documents", "uris"])
            found[(tenant, database, collection.name)] = got
    return found


def same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for key in a:
        x, y = a[key], b[key]
        if x["ids"] != y["ids"] or x["metadatas"] != y["metadatas"] or x["documents"] != y["documents"]:
            return False
        if x["uris"] != y["uris"] or not np.array_equal(np.asarray(x["embeddings"]), np.asarray(y["embeddings"])):
            return False
    return True


@pytest.fixture(scope="module")
def complete(chroma_source, tmp_path_factory) -> dict:
    target = str(tmp_path_factory.mktemp("complete") / "frame")
    chroma_frame.migrate(chroma_source, target, progress=False)
    return everything(target)


def test_resume_after_a_hard_exit_between_collections(chroma_source, complete, tmp_path):
    """The process dies (os._exit, no cleanup) right after the first collection is complete."""
    target = str(tmp_path / "frame")
    code = ("import os, sys, chroma_frame\n"
            "chroma_frame.migrate(sys.argv[1], sys.argv[2], progress=False, on_collection=lambda done: os._exit(7))\n")
    done = subprocess.run([sys.executable, "-c", code, chroma_source, target], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": ROOT})
    assert done.returncode == 7, done.stderr
    first = chroma_frame.PersistentClient(target).list_collections()
    assert [c.name for c in first] == ["l2-docs"] and first[0].count() == 59
    report = chroma_frame.migrate(chroma_source, target, progress=False)
    copied = {c.name: c.copied for c in report.collections if c.tenant == "default_tenant"}
    assert copied["l2-docs"] == 0 and copied["cos-big"] == 1484
    assert same(everything(target), complete)


def test_resume_in_the_middle_of_a_collection(chroma_source, complete, tmp_path, monkeypatch):
    """Interrupted after two batches of the big collection: the rerun writes only the rest."""
    target = str(tmp_path / "frame")
    real_add = Collection.add
    calls = {"n": 0}

    def add_then_stop(self, *args, **kwargs):
        if self.name == "cos-big":
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt
        return real_add(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "add", add_then_stop)
    with pytest.raises(KeyboardInterrupt):
        chroma_frame.migrate(chroma_source, target, progress=False, batch_size=300)
    monkeypatch.setattr(Collection, "add", real_add)
    big = chroma_frame.PersistentClient(target).get_collection("cos-big", embedding_function=None)
    assert big.count() == 600
    report = chroma_frame.migrate(chroma_source, target, progress=False, batch_size=300)
    big_copy = next(c for c in report.collections if c.name == "cos-big")
    assert big_copy.copied == 1484 - 600 and big_copy.records == 1484
    result = everything(target)
    assert same(result, complete)
    assert all(len(set(got["ids"])) == len(got["ids"]) for got in result.values())


def test_cli_migrate_in_a_subprocess(chroma_source, complete, tmp_path):
    before = snapshot(chroma_source)
    target = str(tmp_path / "frame")

    def run(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "chroma_frame", "migrate", "--from", chroma_source, "--to",
                               target, *extra], capture_output=True, text=True, timeout=300,
                              env={**os.environ, "PYTHONPATH": ROOT})

    shown = run()
    assert shown.returncode == 0, shown.stderr
    assert "copied 1,589 records (1,589 in all) of 7 collection(s)" in shown.stdout
    assert "default_tenant/default_database/cos-big" in shown.stderr and "1484/1484" in shown.stderr  # tqdm
    again = run("--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["copied"] == 0 and report["records"] == 1589 and len(report["collections"]) == 7
    assert same(everything(target), complete)
    assert snapshot(chroma_source) == before
    listed = subprocess.run([sys.executable, "-m", "chroma_frame", "collections", "list", "--path", target],
                            capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": ROOT})
    assert "cos-big\t1484" in listed.stdout


def test_a_name_taken_by_another_collection_stops_the_copy(chroma_source, tmp_path):
    from chroma_frame.migration import MigrationError

    target = str(tmp_path / "frame")
    chroma_frame.PersistentClient(target).create_collection("l2-docs", embedding_function=None)
    with pytest.raises(MigrationError, match="default_tenant/default_database/l2-docs with another id"):
        chroma_frame.migrate(chroma_source, target, progress=False)


def test_migrate_runs_without_chromadb(chroma_source, complete, tmp_path):
    """chromadb made unimportable in the migrating process: the copy is the same."""
    target = str(tmp_path / "frame")
    code = ("import sys\n"
            "sys.modules['chromadb'] = None  # any import of chromadb now fails\n"
            "import chroma_frame\n"
            "print(chroma_frame.migrate(sys.argv[1], sys.argv[2], progress=False).copied)\n")
    done = subprocess.run([sys.executable, "-c", code, chroma_source, target], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": ROOT})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1589"
    assert same(everything(target), complete)
