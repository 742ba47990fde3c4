"""Issue 14: every commit is a version; as_of, restore, fork and vacuum, checked against a
pure-Python model of the version history (hypothesis) and on the files."""

from __future__ import annotations

import datetime as dt
import json
import os
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chroma_frame
from chroma_frame.errors import InvalidArgumentError
from tests.conftest import open_backend, run_python

IDS = [f"r{i}" for i in range(8)]


@pytest.fixture
def opener(backend_kind, request):
    """``open(folder, **settings)``: a client on ``folder``, on a local disk or on S3 (moto)."""
    def open_client(path, **settings_kwargs):
        return open_backend(backend_kind, request, path, **settings_kwargs)
    open_client.kind = backend_kind
    return open_client


def _emb(seed: int) -> list[float]:
    return [float(seed % 7), float(seed % 5), 1.0]


def _state(col, as_of=None) -> dict:
    got = col.get(include=["embeddings", "documents"], as_of=as_of)
    return {i: (tuple(np.asarray(e).tolist()), d) for i, e, d in zip(got["ids"], got["embeddings"], got["documents"])}


def test_versions_as_of_restore(tmp_path, opener):
    col = opener(tmp_path).create_collection("versioned", embedding_function=None)
    col.add(ids=["a", "b"], embeddings=[[1, 0], [0, 1]], documents=["A", "B"])
    t1 = dt.datetime.now(dt.timezone.utc)
    time.sleep(0.01)
    col.upsert(ids=["b", "c"], embeddings=[[0, 2], [3, 3]], documents=["B2", "C"])
    col.delete(ids=["a"])
    listed = col.versions()
    assert [(v["version"], v["operation"], v["records"]) for v in listed] == [
        (0, "create", 0), (1, "add", 2), (2, "upsert", 3), (3, "delete", 2)]
    assert all(isinstance(v["time"], dt.datetime) for v in listed)
    assert _state(col, as_of=1) == {"a": ((1.0, 0.0), "A"), "b": ((0.0, 1.0), "B")}
    assert _state(col, as_of=t1) == _state(col, as_of=1)  # a timestamp: the version current then
    assert col.count(as_of=0) == 0 and col.count(as_of=2) == 3
    assert col.query(query_embeddings=[[1, 0]], n_results=1, as_of=1)["ids"] == [["a"]]
    assert col.to_arrow(as_of=2).column("id").to_pylist() == ["a", "b", "c"]
    assert col.to_polars(as_of=1)["document"].to_list() == ["A", "B"]
    with pytest.raises(ValueError, match="has no version 9"):
        col.get(as_of=9)
    with pytest.raises(InvalidArgumentError, match="before the oldest version"):
        col.get(as_of=dt.datetime(2000, 1, 1))

    col.restore(1)  # a new commit: the past stays readable
    assert _state(col) == _state(col, as_of=1)
    assert col.versions()[-1]["operation"] == "restore" and col.versions()[-1]["version"] == 4
    assert col.count(as_of=3) == 2
    col.add(ids=["d"], embeddings=[[5, 5]])
    col.compact()  # a compaction folds the restore like any commit
    assert sorted(_state(col)) == ["a", "b", "d"]
    chroma_frame.Client.clear_system_cache()
    again = opener(tmp_path).get_collection("versioned")
    assert sorted(_state(again)) == ["a", "b", "d"] and _state(again, as_of=2) == _state(col, as_of=2)


def test_fork_shares_files_and_writes_stay_apart(tmp_path, opener):
    client = opener(tmp_path, compaction_threshold_rows=10)
    storage = client._system.storage
    col = client.create_collection("source", embedding_function=None, metadata={"topic": "x"})
    col.add(ids=[f"s{i}" for i in range(25)], embeddings=[_emb(i) for i in range(25)])  # compacted: blockfiles
    col.add(ids=["tail"], embeddings=[[9, 9, 9]])  # and a log tail
    blocks = lambda c: sorted(storage.list_names(f"collections/{c.id}/blocks"))  # noqa: E731
    before = blocks(col)
    fork = col.fork("forked")
    assert fork.name == "forked" and fork.metadata == {"topic": "x"} and fork.id != col.id
    assert fork.configuration_json == col.configuration_json
    assert _state(fork) == _state(col) and col.fork_count() == 1
    assert len(blocks(fork)) == 1  # only the tail was written; the blockfiles are the source's
    fork.add(ids=["only-fork"], embeddings=[[1, 1, 1]])
    fork.delete(ids=["s0"])
    col.upsert(ids=["s1"], embeddings=[[7, 7, 7]])
    assert "only-fork" not in _state(col) and "s0" in _state(col)
    assert _state(fork)["s1"] != _state(col)["s1"] and "s0" not in _state(fork)
    fork.compact()
    assert blocks(col) == before + [b for b in blocks(col) if b not in before]  # the source's files untouched
    with pytest.raises(Exception, match="already exists"):
        col.fork("forked")
    old = col.fork("from-the-past", as_of=1)
    assert sorted(_state(old)) == sorted(f"s{i}" for i in range(25))
    # deleting the source keeps what the forks list; vacuum then frees the rest
    client.delete_collection("source")
    assert _state(client.get_collection("forked")) == _state(fork)
    client.vacuum(older_than=0)
    assert _state(client.get_collection("forked")) == _state(fork)
    assert _state(client.get_collection("from-the-past")) == _state(old)


def test_vacuum_frees_history_and_keeps_what_is_current(tmp_path, opener):
    client = opener(tmp_path, compaction_threshold_rows=5)
    storage = client._system.storage
    col = client.create_collection("vac", embedding_function=None)
    for i in range(6):
        col.upsert(ids=[f"v{j}" for j in range(5)], embeddings=[_emb(i + j) for j in range(5)])
    col.compact()
    current = _state(col)
    prefix = f"collections/{col.id}"
    size = lambda: sum(e.size for sub in ("", "/log", "/blocks", "/manifests")  # noqa: E731
                       for e in storage.list_entries(prefix + sub))
    kept = client.vacuum()  # default retention: a week
    assert kept == {"versions": 0, "files": 0, "bytes": 0} and len(col.versions()) == 7
    before = size()
    freed = client.vacuum(older_than=0)
    assert freed["versions"] > 0 and freed["bytes"] == before - size() > 0
    assert _state(col) == current and [v["version"] for v in col.versions()] == [6]
    with pytest.raises(ValueError, match="no longer kept"):
        col.get(as_of=3)
    chroma_frame.Client.clear_system_cache()
    assert _state(opener(tmp_path).get_collection("vac")) == current


def test_history_retention_zero_sweeps_after_each_compaction(tmp_path, opener):
    client = opener(tmp_path, compaction_threshold_rows=4, history_retention=0)
    col = client.create_collection("swept", embedding_function=None)
    for i in range(12):
        col.add(ids=[f"w{i}"], embeddings=[_emb(i)])
    logs = client._system.storage.list_names(f"collections/{col.id}/log")
    assert len(logs) < 12 and col.count() == 12  # folded entries were let go


# -- the model -------------------------------------------------------------------------------------

OPS = st.lists(st.one_of(
    st.tuples(st.just("add"), st.lists(st.sampled_from(IDS), min_size=1, max_size=3, unique=True), st.integers(0, 99)),
    st.tuples(st.just("upsert"), st.lists(st.sampled_from(IDS), min_size=1, max_size=3, unique=True),
              st.integers(0, 99)),
    st.tuples(st.just("delete"), st.lists(st.sampled_from(IDS), min_size=1, max_size=3, unique=True), st.just(0)),
    st.tuples(st.just("compact"), st.just([]), st.just(0)),
    st.tuples(st.just("restore"), st.just([]), st.integers(0, 10_000)),
    st.tuples(st.just("fork"), st.just([]), st.integers(0, 10_000)),
), min_size=1, max_size=14)


def _apply(model: dict, op: str, ids: list[str], seed: int) -> dict | None:
    """The state after ``op``, or None when Chroma writes nothing (no new version)."""
    new = dict(model)
    if op == "add":
        fresh = [i for i in ids if i not in model]
        if not fresh:
            return None
        new.update({i: ((*_emb(seed + n),), f"d{seed}") for n, i in enumerate(ids) if i in fresh})
    elif op == "upsert":
        new.update({i: ((*_emb(seed + n),), f"d{seed}") for n, i in enumerate(ids)})
    else:
        if not any(i in model for i in ids):
            return None
        for i in ids:
            new.pop(i, None)
    return new


def _write(col, op: str, ids: list[str], seed: int) -> None:
    if op == "delete":
        col.delete(ids=ids)
    else:
        getattr(col, op)(ids=ids, embeddings=[_emb(seed + n) for n in range(len(ids))],
                         documents=[f"d{seed}"] * len(ids))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_as_of_restore_and_fork_match_a_model_of_the_history(tmp_path_factory, opener, ops):
    path = tmp_path_factory.mktemp("model")
    client = opener(path, compaction_threshold_rows=3)
    col = client.create_collection("model", embedding_function=None)
    history = {col.name: [{}]}  # collection -> its states, by version
    handles = {col.name: col}
    for step, (op, ids, seed) in enumerate(ops):
        name = sorted(handles)[seed % len(handles)]
        target, states = handles[name], history[name]
        if op == "compact":
            target.compact()
        elif op == "restore":
            version = seed % len(states)
            if len(states) > 1:
                target.restore(version)
                states.append(states[version])
        elif op == "fork":
            version = seed % len(states)
            handles[f"fork{step}"] = target.fork(f"fork{step}", as_of=version)
            history[f"fork{step}"] = [states[version]]
        else:
            after = _apply(states[-1], op, ids, seed)
            _write(target, op, ids, seed)
            if after is not None:
                states.append(after)
    for name, states in history.items():
        col = handles[name]
        assert [v["version"] for v in col.versions()] == list(range(len(states)))
        for version, state in enumerate(states):
            assert _state(col, as_of=version) == state, (name, version)
            assert col.versions()[version]["records"] in (None, len(state))
        assert _state(col) == states[-1]


def test_sql_reads_a_past_version_and_the_cli_vacuums(tmp_path):
    client = chroma_frame.PersistentClient(path=str(tmp_path))
    col = client.create_collection("sqlpast", embedding_function=None)
    for i in range(4):
        col.upsert(ids=["a", f"n{i}"], embeddings=[[float(i), 1.0]] * 2)
    query = "SELECT id, embedding[1] AS x FROM sqlpast ORDER BY id"
    assert client.sql(query).fetchall() == [("a", 3.0), ("n0", 0.0), ("n1", 1.0), ("n2", 2.0), ("n3", 3.0)]
    assert client.sql(query, as_of={"sqlpast": 2}).fetchall() == [("a", 1.0), ("n0", 0.0), ("n1", 1.0)]
    assert client.sql(query).fetchall()[0] == ("a", 3.0)  # the current view again
    with pytest.raises(ValueError, match="no collection named nope"):
        client.sql(query, as_of={"nope": 1})
    col.compact()
    kept = run_python("from chroma_frame.cli import main; import sys; sys.exit(main(sys.argv[1:]))",
                      "vacuum", "--path", str(tmp_path), "--older-than", "7d", "--json")
    assert kept.returncode == 0 and json.loads(kept.stdout)["versions"] == 0, kept.stderr
    freed = run_python("from chroma_frame.cli import main; import sys; sys.exit(main(sys.argv[1:]))",
                       "vacuum", "--path", str(tmp_path), "--older-than", "0")
    assert freed.returncode == 0 and freed.stdout.startswith("deleted 4 version(s)"), (freed.stdout, freed.stderr)
    assert [v["version"] for v in col.versions()] == [4] and col.count() == 5
    bad = run_python("from chroma_frame.cli import main; import sys; sys.exit(main(sys.argv[1:]))",
                     "vacuum", "--path", str(tmp_path), "--older-than", "soon")
    assert bad.returncode == 2 and "not a duration" in bad.stderr


def test_vacuum_lets_old_catalog_versions_go(tmp_path):
    client = chroma_frame.PersistentClient(path=str(tmp_path))
    for name in ("one", "two", "three"):
        client.create_collection(f"cat-{name}", embedding_function=None)
    versions = sorted((tmp_path / "catalog").glob("*.json"))
    assert len(versions) >= 3
    hour_ago = time.time() - 3600
    for path in versions:
        os.utime(path, (hour_ago, hour_ago))  # superseded long ago (a version younger than 10 minutes stays)
    freed = client.vacuum(older_than=0)
    assert sorted((tmp_path / "catalog").glob("*.json")) == versions[-1:] and freed["files"] >= len(versions) - 1
    chroma_frame.Client.clear_system_cache()
    assert sorted(c.name for c in chroma_frame.PersistentClient(path=str(tmp_path)).list_collections()) == [
        "cat-one", "cat-three", "cat-two"]
