"""Attach entries: blockfiles written elsewhere (a bulk job's workers) committed as one version.

The store-level contract under chroma_frame.ray.write, without Ray: readers in other processes,
readers that meet the entry before a manifest folds it, the past (as_of, restore, fork), vacuum,
the doctor, and a damaged entry."""

from __future__ import annotations

import time

import numpy as np
import pytest

import chroma_frame
from chroma_frame.storage.blockfile import write_blockfile
from chroma_frame.storage.integrity import CorruptFileError
from chroma_frame.storage.jobs import job_block, start_job
from chroma_frame.storage.log import Commit
from chroma_frame.storage.records import build_rows
from tests.conftest import run_python

DIM = 4


def _block(store, job, part, ids, rowid0):
    n = len(ids)
    rows = build_rows(dimension=DIM, seqs=1, rowids=range(rowid0, rowid0 + n), ops=0, ids=ids,
                      metadatas=[{"part": part}] * n, embeddings=np.full((n, DIM), part + 1, np.float32))
    ref = write_blockfile(store.storage, store.prefix, rows, stem=job_block(job, 0, part))
    return ref.__class__(str(ref), rows=ref.rows, size=ref.size, crc32c=ref.crc32c, dimension=DIM)


@pytest.fixture
def col(tmp_path):
    client = chroma_frame.PersistentClient(str(tmp_path / "db"))
    col = client.create_collection("attach")
    col.add(ids=["a", "b"], embeddings=[[0.0] * DIM, [0.5] * DIM], metadatas=[{"part": -1}] * 2)
    return col


def test_attached_rows_follow_the_state_and_the_entry_rows_follow_them(col, tmp_path):
    store = col._engine.store
    job = start_job(store.storage, store.prefix, "test")
    refs = [_block(store, job, 0, ["c", "d"], 1000), _block(store, job, 1, ["b", "e"], 2000)]

    def fix(before, seq):  # "b" existed: keep the old record, as an add does
        return before.rows(np.flatnonzero(before.live)[1:2]), 5

    store.attach(refs, fix, operation="ray:add")
    assert col.count() == 5
    assert col.get(ids=["b"], include=["metadatas"])["metadatas"] == [{"part": -1}]
    assert col.get(ids=["e"], include=["metadatas"])["metadatas"] == [{"part": 1}]
    assert col.get()["ids"] == ["a", "b", "c", "d", "e"]  # insertion order: rowids
    assert col.versions()[-1]["operation"] == "ray:add"
    code = f"""
import chroma_frame
c = chroma_frame.PersistentClient({str(tmp_path / 'db')!r}).get_collection("attach")
print(c.count(), sorted(c.get(where={{"part": 1}})["ids"]))
"""
    out = run_python(code)
    assert out.stdout.split("\n")[0] == "5 ['e']", out.stderr


def test_a_reader_applies_an_entry_no_manifest_folds_yet(col, tmp_path):
    """The driver committed, then died before the manifest: the entry alone makes the state."""
    store = col._engine.store
    col._engine.compact()
    snap = store.snapshot(fresh=True)
    job = start_job(store.storage, store.prefix, "test")
    ref = _block(store, job, 0, ["x", "y"], 5000)
    body = snap.table.slice(0, 0)
    assert store.log.append(snap.last_seq + 1, body, Commit("ray:add", 4, attach=(ref,)))
    fresh = chroma_frame.PersistentClient(str(tmp_path / "db")).get_collection("attach")
    assert sorted(fresh.get()["ids"]) == ["a", "b", "x", "y"]
    hit = fresh.query(query_embeddings=[[1.0] * DIM], n_results=1)
    assert hit["ids"] == [["x"]] and hit["distances"][0][0] == pytest.approx(0.0, abs=1e-6)
    # vacuum must not take the entry's blockfile, though no manifest lists it and its job marker is old news
    from chroma_frame.engine.history import vacuum
    from chroma_frame.storage.jobs import end_job

    end_job(store.storage, store.prefix, job)
    vacuum(fresh._engine.store, older_than=0, in_flight=0, now=time.time() + 60)
    assert store.storage.exists(f"{store.prefix}/{ref}")


def test_the_past_across_an_attach(col):
    store = col._engine.store
    before = col.versions()[-1]["version"]
    job = start_job(store.storage, store.prefix, "test")
    store.attach([_block(store, job, 0, ["p", "q"], 3000)], lambda before, seq: (None, before.count + 2),
                 operation="ray:add")
    after = col.versions()[-1]["version"]
    assert col.count(as_of=before) == 2 and col.count(as_of=after) == 4
    fork = col.fork("attach-fork")
    col.restore(before)
    assert col.count() == 2
    assert sorted(fork.get()["ids"]) == ["a", "b", "p", "q"]
    col.restore(after)
    assert sorted(col.get()["ids"]) == ["a", "b", "p", "q"]


def test_the_doctor_accepts_a_collection_with_attached_blockfiles(col, tmp_path):
    from chroma_frame.doctor import check

    store = col._engine.store
    job = start_job(store.storage, store.prefix, "test")
    store.attach([_block(store, job, 0, ["p"], 3000)], lambda before, seq: (None, before.count + 1),
                 operation="ray:add")
    _block(store, job, 1, ["r"], 4000)  # a job still running: written, not yet committed
    report = check(str(tmp_path / "db"))
    assert not report.problems, report.problems


def test_a_damaged_attach_entry_is_a_clear_error(col, tmp_path):
    store = col._engine.store
    snap = store.snapshot(fresh=True)
    body = snap.table.slice(0, 0).replace_schema_metadata({b"chroma_frame.commit": b'{"operation": "ray:add", '
                                                                                   b'"attach": [{"path": "x"}]}'})
    assert store.log.append(snap.last_seq + 1, body)
    with pytest.raises(CorruptFileError, match="commit description"):
        chroma_frame.PersistentClient(str(tmp_path / "db")).get_collection("attach").count()
