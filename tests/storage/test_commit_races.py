"""Several processes committing to one collection at once, some SIGKILLed mid-write, on a local
disk and on S3 (moto): no acknowledged write is lost and every version reads whole."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

import chroma_frame
from tests.conftest import ROOT

WRITER = r"""
import json, sys, numpy as np, chroma_frame
url, settings, name, tag = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
col = chroma_frame.PersistentClient(path=url, settings=chroma_frame.Settings(**settings)).get_collection(
    name, embedding_function=None)
rng = np.random.default_rng(abs(hash(tag)) % 2**32)
size = int(sys.argv[6]) if len(sys.argv) > 6 else 3
for i in range(int(sys.argv[5])):
    ids = [f"{tag}-{i}-{j}" for j in range(size)]
    col.upsert(ids=ids, embeddings=rng.random((size, 4), dtype=np.float32), documents=[tag] * size)
    print(json.dumps(ids), flush=True)  # acknowledged: the upsert returned
"""


def _settings(kind: str, request) -> tuple[str, dict]:
    if kind == "local":
        return str(request.getfixturevalue("tmp_path") / "db"), {"compaction_threshold_rows": 12}
    endpoint = request.getfixturevalue("s3_endpoint")
    return endpoint.url(f"races-{random.getrandbits(48):x}"), {
        "compaction_threshold_rows": 12, "s3_endpoint_url": endpoint.endpoint_url, "s3_access_key_id": "testing",
        "s3_secret_access_key": "testing", "s3_cache_dir": request.getfixturevalue("s3_cache_dir")}


def test_concurrent_writers_with_kills_lose_no_acknowledged_write(backend_kind, request):
    url, settings = _settings(backend_kind, request)
    client = chroma_frame.PersistentClient(path=url, settings=chroma_frame.Settings(**settings))
    client.create_collection("raced", embedding_function=None)
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, url, json.dumps(settings), "raced", tag, "100"],
                                cwd=ROOT, stdout=subprocess.PIPE, text=True) for tag in ("p", "q", "r", "s")]
    acks: list[list[str]] = [[] for _ in writers]
    readers = [threading.Thread(target=lambda w=w, a=a: a.extend(w.stdout), daemon=True)
               for w, a in zip(writers, acks)]
    for reader in readers:
        reader.start()
    for victim, after in ((0, 10), (1, 30)):  # killed mid-run, wherever they are in a commit
        deadline = time.monotonic() + 120
        while len(acks[victim]) < after and time.monotonic() < deadline:
            time.sleep(0.005)
        writers[victim].send_signal(signal.SIGKILL)
    for writer, reader in zip(writers, readers):
        writer.wait(timeout=300)
        reader.join(timeout=30)
    acknowledged = {i for lines in acks for line in lines for i in json.loads(line)}
    assert writers[2].returncode == writers[3].returncode == 0
    assert writers[0].returncode == writers[1].returncode == -signal.SIGKILL  # killed while writing
    chroma_frame.Client.clear_system_cache()
    col = chroma_frame.PersistentClient(path=url, settings=chroma_frame.Settings(**settings)).get_collection("raced")
    present = set(col.get(include=[])["ids"])
    assert acknowledged <= present  # nothing acknowledged is lost
    assert len(acknowledged) >= (2 * 100 + 10 + 30) * 3
    assert len(present) - len(acknowledged) <= 2 * 3  # at most the write each killed process was making
    versions = col.versions()
    numbers = [v["version"] for v in versions]
    assert numbers == list(range(numbers[0], numbers[-1] + 1))  # one version per commit, no gap
    for v in versions[:: max(1, len(versions) // 12)]:  # every version reads whole: its count is its own
        assert col.count(as_of=v["version"]) == v["records"], v
    assert col.count() == len(present) == versions[-1]["records"]


@pytest.mark.parametrize("kind", ["local"])
def test_a_writer_killed_mid_commit_leaves_no_partial_entry(kind, request):
    """SIGKILL while a large entry is being written: its temporary file is never taken for an entry."""
    url, settings = _settings(kind, request)
    client = chroma_frame.PersistentClient(path=url, settings=chroma_frame.Settings(**settings))
    client.create_collection("torn", embedding_function=None)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, url, json.dumps(settings), "torn", "t", "50", "5000"],
                              cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    first = writer.stdout.readline()  # one entry acknowledged; the next one is being written
    time.sleep(0.05)
    writer.send_signal(signal.SIGKILL)
    out, _ = writer.communicate(timeout=60)
    assert writer.returncode == -signal.SIGKILL
    acknowledged = {i for line in [first, *out.splitlines()] for i in json.loads(line)}
    chroma_frame.Client.clear_system_cache()
    col = chroma_frame.PersistentClient(path=url, settings=chroma_frame.Settings(**settings)).get_collection("torn")
    present = set(col.get(include=[])["ids"])
    assert acknowledged <= present and len(present) % 5000 == 0
    col.add(ids=["after"], embeddings=[[0, 0, 0, 0]])
    assert col.count() == len(present) + 1


READER = r"""
import json, sys, chroma_frame
url, settings = sys.argv[1], json.loads(sys.argv[2])
col = chroma_frame.PersistentClient(path=url, settings=chroma_frame.Settings(**settings)).get_collection(
    "vacuumed", embedding_function=None)
reads = 0
while True:
    got = col.get(include=["embeddings"])
    assert len(got["ids"]) == len(set(got["ids"])) >= 30, len(got["ids"])
    col.query(query_embeddings=[[0.5, 0.5, 0.5, 0.5]], n_results=5)
    reads += 1
    print(reads, flush=True)
"""


def test_vacuum_never_fails_a_concurrent_reader(backend_kind, request):
    """A reader in another process loops over get and query while this one writes, compacts and
    vacuums everything it may (retention 0): the reader never fails and never sees a torn state."""
    url, settings = _settings(backend_kind, request)
    settings = {**settings, "history_retention": 0}
    client = chroma_frame.PersistentClient(path=url, settings=chroma_frame.Settings(**settings))
    col = client.create_collection("vacuumed", embedding_function=None)
    col.add(ids=[f"base{i}" for i in range(30)], embeddings=[[i / 30, 0.5, 0.2, 0.1] for i in range(30)])
    reader = subprocess.Popen([sys.executable, "-c", READER, url, json.dumps(settings)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        started = int(reader.stdout.readline())  # reading before anything below happens
        for i in range(40):
            col.upsert(ids=[f"base{i % 30}", f"new{i}"], embeddings=[[0.1, i / 40, 0.3, 0.4]] * 2)
            if i % 5 == 4:
                col.compact()
                client.vacuum(older_than=0)
        assert reader.poll() is None, reader.stderr.read()  # still reading, never failed
    finally:
        reader.kill()
        out, err = reader.communicate(timeout=30)
    assert "Traceback" not in err, err
    assert int(out.split()[-1]) > started + 5  # it read all along
    kept = client._system.storage.list_names(f"collections/{col.id}/log")
    assert len(kept) < 10 and col.count() == 70  # history was swept (after compactions, then by vacuum)


def test_refresh_interval_trades_freshness_for_requests_but_never_own_writes(tmp_path):
    """With ``refresh_interval`` a read may reuse the last check of the files for that long:
    another process's commit shows up after it, this process's own writes at once."""
    settings = {"refresh_interval": 60.0}
    col = chroma_frame.PersistentClient(path=str(tmp_path), settings=chroma_frame.Settings(**settings)) \
        .create_collection("relaxed", embedding_function=None)
    col.add(ids=["mine"], embeddings=[[0, 0, 0, 1]])
    assert col.count() == 1
    other = subprocess.run([sys.executable, "-c", WRITER, str(tmp_path), "{}", "relaxed", "o", "1"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert other.returncode == 0, other.stderr
    assert col.count() == 1  # within the interval: the last check stands
    col.add(ids=["mine2"], embeddings=[[0, 0, 1, 0]])  # a write always looks: it plans on the newest state
    assert col.count() == 5
    strict = chroma_frame.PersistentClient(path=str(tmp_path), settings=chroma_frame.Settings(refresh_interval=0))
    assert strict.get_collection("relaxed").count() == 5
