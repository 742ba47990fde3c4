"""Durability and multi-process behaviour, with real processes and real files."""

import os
import signal
import subprocess
import sys
import time

import numpy as np

import chroma_frame
from tests.conftest import ROOT, run_python

WRITER = r"""
import sys, numpy as np, chroma_frame
path, start, batches, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
c = chroma_frame.PersistentClient(path=path).get_or_create_collection("coll", embedding_function=None)
rng = np.random.default_rng(start)
for b in range(batches):
    ids = [f"{start}-{b}-{i}" for i in range(batch)]
    c.add(ids=ids, embeddings=rng.random((batch, 8), dtype=np.float32), metadatas=[{"b": b, "i": i} for i in range(batch)])
    print(f"acked {b}", flush=True)
"""


def _spawn_writer(path, start, batches, batch):
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(start), str(batches), str(batch)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": ROOT},
    )


def test_sigkill_mid_ingest_keeps_every_acknowledged_write(tmp_path):
    path = tmp_path / "db"
    # small batches and a low compaction threshold so the kill can land in a log append or a compaction
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER.replace('PersistentClient(path=path)',
         'PersistentClient(path=path, settings=chroma_frame.Settings(compaction_threshold_rows=300))'),
         str(path), "7", "100000", "50"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": ROOT},
    )
    acked = -1
    deadline = time.time() + 60
    while time.time() < deadline:
        line = proc.stdout.readline()
        if line.startswith("acked"):
            acked = int(line.split()[1])
        if acked >= 25:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # anything printed after our last read was acknowledged too: drain it
    for line in proc.stdout.read().splitlines():
        if line.startswith("acked"):
            acked = int(line.split()[1])
    assert acked >= 25

    chroma_frame.Client.clear_system_cache()
    col = chroma_frame.PersistentClient(path=str(path)).get_collection("coll", embedding_function=None)
    got = set(col.get(include=[])["ids"])
    expected = {f"7-{b}-{i}" for b in range(acked + 1) for i in range(50)}
    assert expected <= got
    # every record is whole: its metadata says which batch and row it came from
    sample = col.get(ids=sorted(expected)[:200], include=["metadatas", "embeddings"])
    for id_, meta in zip(sample["ids"], sample["metadatas"]):
        _, b, i = id_.split("-")
        assert meta == {"b": int(b), "i": int(i)}
    assert sample["embeddings"].shape == (200, 8)
    # and the collection is usable: a write and a compaction succeed
    col.add(ids=["after"], embeddings=[[0.0] * 8])
    col.compact()
    assert col.count() == len(got) + 1


def test_concurrent_writer_and_reader_on_one_path(tmp_path):
    path = tmp_path / "db"
    chroma_frame.PersistentClient(path=str(path)).get_or_create_collection("coll", embedding_function=None)
    writer = _spawn_writer(path, 1, 40, 100)
    reader_code = r"""
import sys, time, chroma_frame
c = chroma_frame.PersistentClient(path=sys.argv[1]).get_collection("coll", embedding_function=None)
last = 0
for _ in range(400):
    n = c.count()
    assert n >= last, (n, last)       # never goes backwards
    assert n % 100 == 0, n            # a write is seen whole or not at all
    got = c.get(include=["metadatas"], limit=5)
    last = n
    if n == 4000: break
    time.sleep(0.01)
print("reader saw", last)
"""
    reader = run_python(reader_code, str(path), timeout=120)
    out, _ = writer.communicate(timeout=120)
    assert writer.returncode == 0
    assert reader.returncode == 0, reader.stderr
    assert out.count("acked") == 40
    col = chroma_frame.PersistentClient(path=str(path)).get_collection("coll", embedding_function=None)
    assert col.count() == 4000


def test_two_writers_serialise_without_losing_writes(tmp_path):
    path = tmp_path / "db"
    chroma_frame.PersistentClient(path=str(path)).get_or_create_collection("coll", embedding_function=None)
    writers = [_spawn_writer(path, s, 20, 50) for s in (1, 2)]
    for w in writers:
        w.communicate(timeout=120)
        assert w.returncode == 0
    col = chroma_frame.PersistentClient(path=str(path)).get_collection("coll", embedding_function=None)
    assert col.count() == 2 * 20 * 50


def test_collection_reads_the_same_in_a_new_process(tmp_path):
    path = str(tmp_path / "db")
    col = chroma_frame.PersistentClient(path=path).create_collection("coll", embedding_function=None)
    rng = np.random.default_rng(0)
    emb = rng.random((30, 4), dtype=np.float32)
    col.add(ids=[f"id{i}" for i in range(30)], embeddings=emb, documents=[f"doc {i}" for i in range(30)],
            metadatas=[{"i": i, "even": i % 2 == 0, "tags": ["a", str(i)]} for i in range(30)])
    col.update(ids=["id3"], metadatas={"i": None, "new": 1.5})
    col.delete(ids=["id4"])
    here = col.get(include=["documents", "metadatas", "embeddings"])
    code = r"""
import sys, json, chroma_frame
c = chroma_frame.PersistentClient(path=sys.argv[1]).get_collection("coll", embedding_function=None)
r = c.get(include=["documents", "metadatas", "embeddings"])
print(json.dumps({"ids": r["ids"], "documents": r["documents"], "metadatas": r["metadatas"], "embeddings": r["embeddings"].tolist()}))
"""
    res = run_python(code, path)
    assert res.returncode == 0, res.stderr
    import json

    there = json.loads(res.stdout)
    assert there["ids"] == here["ids"]
    assert there["documents"] == here["documents"]
    assert there["metadatas"] == here["metadatas"]
    np.testing.assert_array_equal(np.array(there["embeddings"], dtype=np.float32), here["embeddings"])
