"""A deleted collection stays deleted: every verb on a handle raises NotFoundError, as in Chroma 1.5.9,
writers racing the deletion (threads, another process, HTTP clients) lose cleanly, and no folder is
left behind or recreated."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import chroma_frame
from chroma_frame.errors import NotFoundError
from tests.conftest import ROOT
from tests.server.conftest import Server

EMB = [[1.0, 2.0]]


def _leftovers(path: Path, collection_id: str) -> list[str]:
    """Files of the collection still on disk (in place or in the trash)."""
    found = [str(p) for p in (path / "collections").glob(f"{collection_id}*")]
    return found + [str(p) for p in (path / "trash").glob("*")] if (path / "trash").exists() else found


def test_every_verb_on_a_deleted_collection_raises_chromas_not_found(tmp_path):
    path = tmp_path / "db"
    client = chroma_frame.PersistentClient(path=str(path))
    col = client.create_collection("gone", embedding_function=None)
    col.add(ids=["a"], embeddings=EMB)
    client.delete_collection("gone")
    cid = col.id
    missing = f"Collection [{cid}] does not exist."
    verbs = {  # Chroma 1.5.9's messages (PersistentClient and EphemeralClient alike)
        "add": (lambda: col.add(ids=["b"], embeddings=EMB), f"Error getting collection: {missing}"),
        "upsert": (lambda: col.upsert(ids=["b"], embeddings=EMB), f"Error getting collection: {missing}"),
        "update": (lambda: col.update(ids=["a"], embeddings=EMB), f"Error getting collection: {missing}"),
        "query": (lambda: col.query(query_embeddings=EMB), f"Error getting collection: {missing}"),
        "delete": (lambda: col.delete(ids=["a"]), missing),
        "delete where": (lambda: col.delete(where={"x": 1}), missing),
        "get": (lambda: col.get(), missing),
        "count": (lambda: col.count(), missing),
        "peek": (lambda: col.peek(), missing),
        "modify": (lambda: col.modify(name="other"), missing[:-1]),
    }
    for verb, (call, message) in verbs.items():
        with pytest.raises(NotFoundError) as info:
            call()
        assert str(info.value) == message, verb
    # a new collection under the old name is a different collection: the old handle stays dead
    client.create_collection("gone", embedding_function=None)
    with pytest.raises(NotFoundError):
        col.add(ids=["c"], embeddings=EMB)
    assert client.get_collection("gone").count() == 0
    assert _leftovers(path, str(cid)) == []  # nothing recreated the deleted collection's folder


def test_delete_racing_writer_threads(tmp_path):
    path = tmp_path / "db"
    client = chroma_frame.PersistentClient(path=str(path))
    col = client.create_collection("race", embedding_function=None)
    deleted_at: list[float] = []
    late, errors = [], []

    def adder(t: int) -> None:
        for i in range(10_000):
            started = time.monotonic()
            try:
                col.add(ids=[f"{t}-{i}"], embeddings=EMB)
            except NotFoundError:
                return
            except Exception as exc:  # noqa: BLE001 - anything else is the bug
                errors.append(repr(exc))
                return
            if deleted_at and started > deleted_at[0]:
                late.append(f"{t}-{i}")  # an add that began after the delete returned succeeded

    threads = [threading.Thread(target=adder, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while col.count() < 20 and time.monotonic() < deadline and not errors:
        time.sleep(0.005)
    client.delete_collection("race")
    deleted_at.append(time.monotonic())
    for t in threads:
        t.join(timeout=30)
    assert errors == [] and late == []
    assert _leftovers(path, str(col.id)) == []


ADDER = r"""
import sys, chroma_frame
from chroma_frame.errors import NotFoundError
col = chroma_frame.PersistentClient(path=sys.argv[1]).get_collection("race", embedding_function=None)
i = 0
try:
    while True:
        col.add(ids=[f"p{i}"], embeddings=[[1.0, 2.0]])
        i += 1
        if i == 10:
            print("started", flush=True)
except NotFoundError as exc:
    print("not found:", exc, flush=True)
"""


def test_delete_racing_a_writer_in_another_process(tmp_path):
    path = tmp_path / "db"
    client = chroma_frame.PersistentClient(path=str(path))
    col = client.create_collection("race", embedding_function=None)
    proc = subprocess.Popen([sys.executable, "-c", ADDER, str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": ROOT})
    try:
        assert proc.stdout.readline().strip() == "started"
        client.delete_collection("race")
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.startswith(f"not found: Error getting collection: Collection [{col.id}] does not exist."), (out, err)
    assert _leftovers(path, str(col.id)) == []


def test_server_delete_racing_http_adders(tmp_path):
    import chromadb
    from chromadb.api.shared_system_client import SharedSystemClient
    from chromadb.errors import NotFoundError as ChromaNotFound

    server = Server(tmp_path / "srv").start()
    try:
        SharedSystemClient.clear_system_cache()
        client = chromadb.HttpClient(host="127.0.0.1", port=server.port)
        for round_ in range(3):
            col = client.create_collection(f"race{round_}", embedding_function=None)
            outcomes: list[str] = []

            def adder(t: int) -> None:
                for i in range(10_000):
                    try:
                        col.add(ids=[f"{t}-{i}"], embeddings=EMB)
                    except ChromaNotFound:
                        outcomes.append("not found")
                        return
                    except Exception as exc:  # noqa: BLE001 - a 500 or anything else is the bug
                        outcomes.append(repr(exc))
                        return

            threads = [threading.Thread(target=adder, args=(t,)) for t in range(4)]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 20
            while col.count() < 10 and time.monotonic() < deadline and not outcomes:
                time.sleep(0.005)
            client.delete_collection(f"race{round_}")
            for t in threads:
                t.join(timeout=30)
            assert outcomes == ["not found"] * 4
            assert _leftovers(server.path, str(col.id)) == []
    finally:
        server.stop()
    assert "Traceback" not in server.logs()
