"""A full disk (issue 11, defect 7): a write fails only when it is not durable, with a Chroma error
that says the disk is full; a compaction that fails after a committed write is logged and tried
again later; nothing is left behind in ``.tmp`` files.

The first tests use the failing filesystem of tests/reliability/faultfs.py; the last one fills a
real 4 MiB tmpfs (skipped where mounting is not permitted).
"""

from __future__ import annotations

import errno
import gc
import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest

import chroma_frame
from chroma_frame.engine.backoff import Backoff
from chroma_frame.errors import DiskFullError, InternalError
from tests.layout import manifest_path
from tests.reliability.faultfs import FaultHandler, faulty_client, fresh_client, tmp_files

BLOCKFILE = r"/blocks/[0-9a-f]{32}\.arrow"
DIM = 8


def rows(prefix: str, n: int, seed: int = 0, doc_bytes: int = 20) -> dict:
    rng = np.random.default_rng(seed)
    return {"ids": [f"{prefix}-{i}" for i in range(n)], "embeddings": rng.random((n, DIM)).tolist(),
            "documents": [f"{prefix} {i} ".ljust(doc_bytes, "x") for i in range(n)]}


@pytest.fixture
def db(tmp_path):
    yield str(tmp_path / "db")
    chroma_frame.Client.clear_system_cache()


def test_add_on_a_full_disk_raises_a_chroma_error_and_leaves_nothing(db):
    handler = FaultHandler()
    col = faulty_client(db, handler).create_collection("full")
    col.add(**rows("a", 3))
    handler.inject("write", r"/log/", "short")  # the disk fills up half way through the entry
    with pytest.raises(DiskFullError) as info:
        col.add(**rows("b", 3))
    assert isinstance(info.value, InternalError)  # Chroma's class, as chromadb raises for a full SQLite
    assert isinstance(info.value, OSError) and info.value.errno == errno.ENOSPC  # still an OSError too
    message = str(info.value)
    assert message.startswith("No space left on device while writing ") and "/log/" in message
    assert message.endswith(": the write was not committed")
    assert not tmp_files(db)  # the half-written entry does not keep the disk full
    assert col.count() == 3 and fresh_client(db).get_collection("full").count() == 3


def test_quota_exceeded_is_a_disk_full_error(db):
    handler = FaultHandler()
    col = faulty_client(db, handler).create_collection("quota")
    handler.inject("write", r"/log/", "edquot")
    with pytest.raises(DiskFullError, match="^Disk quota exceeded while writing .*: the write was not committed$"):
        col.add(**rows("a", 2))
    assert not tmp_files(db)


def test_add_succeeds_when_the_compaction_after_it_fails_and_compaction_backs_off(db, caplog):
    handler = FaultHandler()
    col = faulty_client(db, handler, compaction_threshold_rows=4).create_collection("compacting")
    handler.inject("write", BLOCKFILE, "enospc", times=None)  # no room for any new blockfile
    with caplog.at_level(logging.WARNING, logger="chroma_frame.engine.store"):
        for i in range(30):
            col.add(**rows(f"w{i}", 2, seed=i))  # committed: never an error
    assert col.count() == 60
    attempts = {path for op, _, path in handler.injected}
    assert 2 <= len(attempts) <= 8, attempts  # retried, but not on each of the 29 writes past the threshold
    assert "No space left on device" in caplog.text and "will retry later" in caplog.text
    assert not tmp_files(db)
    folder = col._store.storage.path(col._store.prefix)
    assert len(os.listdir(f"{folder}/log")) == 30  # every entry kept: nothing was folded
    with pytest.raises(DiskFullError, match="No space left on device while writing .*/blocks/"):
        col.compact()  # an explicit compaction does report it
    handler.clear()
    col.compact()
    assert json.loads(manifest_path(folder).read_bytes())["log_upto"] == 30  # all folded
    fresh = fresh_client(db).get_collection("compacting")
    assert fresh.count() == 60 and len(fresh._store.snapshot().base) == 1


def test_automatic_compaction_resumes_once_there_is_room(db):
    handler = FaultHandler()
    col = faulty_client(db, handler, compaction_threshold_rows=4).create_collection("resume")
    handler.inject("write", BLOCKFILE, "enospc", times=None)
    for i in range(4):
        col.add(**rows(f"w{i}", 2, seed=i))
    assert handler.injected
    handler.clear()
    for i in range(4, 12):  # within a few writes, an automatic compaction runs again and succeeds
        col.add(**rows(f"w{i}", 2, seed=i))
    snap = col._store.snapshot()
    assert len(snap.base) >= 1 and (snap.tail is None or snap.tail.table.num_rows < 4)
    assert fresh_client(db).get_collection("resume").count() == 24


def test_disk_full_reaches_http_clients_as_an_internal_error():
    from chroma_frame.server.errors import classify

    exc = DiskFullError("No space left on device while writing /db/x.arrow: the write was not committed")
    assert classify(exc) == (500, "InternalError", str(exc))


def test_backoff_waits_longer_after_each_failure():
    now = [0.0]
    backoff = Backoff(max_calls=64, max_seconds=60.0, clock=lambda: now[0])
    assert backoff.due()
    waits = []
    for _ in range(8):
        backoff.failed()
        calls = 1
        while not backoff.due():
            calls += 1
        waits.append(calls)
    assert waits == [2, 4, 8, 16, 32, 64, 64, 64]
    backoff.failed()
    now[0] += 60.0  # or enough time has passed
    assert backoff.due()
    backoff.succeeded()
    assert backoff.due() and backoff.due()


# -- a real full disk ------------------------------------------------------------------------
@pytest.fixture
def tmpfs(tmp_path):
    """A 4 MiB tmpfs; skipped unless this process may mount one (CI runs as root)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield str(mount)
    finally:
        chroma_frame.Client.clear_system_cache()
        gc.collect()  # unmap the blockfiles
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_real_disk_full_on_a_tmpfs(tmpfs, caplog):
    path = f"{tmpfs}/db"
    settings = chroma_frame.Settings(compaction_threshold_rows=200)
    col = chroma_frame.PersistentClient(path, settings=settings).create_collection("tmpfs")
    ballast = f"{tmpfs}/ballast"
    with open(ballast, "wb") as f:
        f.write(b"\1" * (3 << 20))  # about 1 MiB left; freed at the end, to show that writes work again
    acknowledged, error, i = 0, None, 0
    with caplog.at_level(logging.WARNING, logger="chroma_frame.engine.store"):
        while error is None and i < 2000:
            try:
                col.add(**rows(f"b{i}", 20, seed=i, doc_bytes=400))
                acknowledged += 20
            except DiskFullError as exc:
                error = exc
            i += 1
    assert error is not None, "the disk never filled up"
    assert str(error).startswith("No space left on device while writing ") and str(error).endswith(
        "the write was not committed")
    assert not tmp_files(tmpfs)  # failed writes gave their space back
    assert col.count() == acknowledged
    assert fresh_client(path, compaction_threshold_rows=200).get_collection("tmpfs").count() == acknowledged
    os.remove(ballast)
    col = fresh_client(path, compaction_threshold_rows=200).get_collection("tmpfs")
    col.add(**rows("after", 20, seed=9999))
    col.compact()
    assert col.count() == acknowledged + 20 and not tmp_files(tmpfs)
