"""Index builds live inside the user's process (issue 13): a background thread, never a process of
its own; abandoned cleanly at exit and after a crash; ``index_build_policy`` and ``build_index``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

import chroma_frame
from chroma_frame.cli import main as cli_main

ROWS = 1200
CONFIG = {"hnsw": {"space": "l2"}, "nndescent": {"min_rows": 300}}
ROOT = Path(__file__).resolve().parents[2]


def _data(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 8)).astype(np.float32)


def _processes_on(root: str) -> list[psutil.Process]:
    """Processes other than this one whose command line names ``root``."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if proc.pid != os.getpid() and any(root in arg for arg in proc.info["cmdline"] or []):
            found.append(proc)
    return found


def _leftovers(root: str) -> list[str]:
    """Temporary files of unfinished writes left in the collections' folders."""
    return [str(p) for p in Path(root, "collections").rglob("*") if p.is_file() and ".tmp" in p.name]


def _script(body: str) -> str:
    return textwrap.dedent("""
        import sys, threading, time
        import numpy as np
        import chroma_frame
        from chroma_frame.index import build
        root = sys.argv[1]
        real = build.build_graph
        def slow_build(*args, cancel=None, **kwargs):  # a build that outlasts the script
            (cancel or threading.Event()).wait(60)
            if cancel is not None and cancel.is_set():
                raise build.Cancelled("abandoned")
            return real(*args, cancel=cancel, **kwargs)
        build.build_graph = slow_build
        col = chroma_frame.PersistentClient(root).get_or_create_collection(
            "lifecycle", embedding_function=None,
            configuration={"hnsw": {"space": "l2"}, "nndescent": {"min_rows": 300}})
        col.add(ids=[f"r{i}" for i in range(1200)],
                embeddings=np.random.default_rng(0).normal(size=(1200, 8)).astype(np.float32))
    """) + textwrap.dedent(body)


def _run(root: str, body: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", _script(body), root], env=env, **kwargs)


def test_background_build_is_a_thread_of_this_process(tmp_path):
    col = chroma_frame.PersistentClient(str(tmp_path)).create_collection(
        "threads", embedding_function=None, configuration=CONFIG)
    col.add(ids=[f"r{i}" for i in range(ROWS)], embeddings=_data(ROWS))
    col.compact()  # asks for a build
    assert col.wait_for_index(timeout=60) is True
    assert not psutil.Process().children(recursive=True)  # no builder process was started
    assert col.index_status()["indexed_rows"] == ROWS


def test_a_script_that_exits_mid_build_leaves_nothing_behind(tmp_path):
    """The script adds enough rows for a graph, compacts and exits while the build runs: it exits
    at once, no process is left, no partial file is visible, and the next open builds the graph."""
    root = str(tmp_path)
    started = time.monotonic()
    proc = _run(root, """
        col.compact()
        deadline = time.time() + 30
        while col._store.index._builder is None or col._store.index._builder.poll() is not None:
            assert time.time() < deadline
            time.sleep(0.01)
        print("building", flush=True)
    """, stdout=subprocess.PIPE)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and b"building" in out
    assert time.monotonic() - started < 30
    assert _processes_on(root) == []
    assert _leftovers(root) == []
    assert not list(Path(root).rglob("*.graph.npz"))
    assert not list(Path(root).rglob("*.graph.failed.json"))  # abandoned, not failed
    chroma_frame.Client.clear_system_cache()
    col = chroma_frame.PersistentClient(root).get_collection("lifecycle", embedding_function=None)
    assert col.wait_for_index(timeout=60) is True  # built again, here


def test_a_crash_mid_build_corrupts_nothing(tmp_path):
    """SIGKILL while the graph is being built: the collection reads as before and the next open
    builds the graph (the attempt is counted, far from giving up)."""
    root = str(tmp_path)
    proc = _run(root, """
        col.compact()
        print("ready", flush=True)
        col.build_index(progress=False)
    """, stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"ready"
    deadline = time.monotonic() + 30
    while not list(Path(root).rglob("*.graph.failed.json")):  # the attempt is recorded as it starts
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert _processes_on(root) == [] and _leftovers(root) == []
    chroma_frame.Client.clear_system_cache()
    col = chroma_frame.PersistentClient(root).get_collection("lifecycle", embedding_function=None)
    assert col.count() == ROWS
    assert col.wait_for_index(timeout=60) is True
    emb = _data(ROWS)
    assert col.query(query_embeddings=emb[:3], n_results=1)["ids"] == [["r0"], ["r1"], ["r2"]]


def test_manual_policy_builds_only_when_asked(tmp_path):
    settings = chroma_frame.Settings(index_build_policy="manual")
    col = chroma_frame.PersistentClient(str(tmp_path), settings=settings).create_collection(
        "manual", embedding_function=None, configuration=CONFIG)
    col.add(ids=[f"r{i}" for i in range(ROWS)], embeddings=_data(ROWS))
    col.compact()
    col.query(query_embeddings=_data(2, 1), n_results=3)
    status = col.index_status()
    assert (status["builders_started"], status["indexed_rows"]) == (0, 0)
    reports = []
    assert col.build_index(progress=lambda done, total: reports.append((done, total))) == 1
    assert reports and reports[-1] == (ROWS, ROWS)
    assert col.index_status()["indexed_rows"] == ROWS
    assert col.build_index(progress=False) == 0  # nothing left to build


def test_wait_for_index_builds_under_the_manual_policy(tmp_path):
    settings = chroma_frame.Settings(index_build_policy="manual")
    col = chroma_frame.PersistentClient(str(tmp_path), settings=settings).create_collection(
        "waits", embedding_function=None, configuration=CONFIG)
    col.add(ids=[f"r{i}" for i in range(ROWS)], embeddings=_data(ROWS))
    col.compact()
    assert col.wait_for_index(timeout=60) is True


def test_policy_is_checked():
    with pytest.raises(ValueError, match="index_build_policy"):
        chroma_frame.Settings(index_build_policy="sometimes")


def test_cli_index_builds_every_collection(tmp_path, capsys):
    root = str(tmp_path)
    client = chroma_frame.PersistentClient(root, settings=chroma_frame.Settings(index_build_policy="manual"))
    for name in ("first", "second"):
        col = client.create_collection(name, embedding_function=None, configuration=CONFIG)
        col.add(ids=[f"r{i}" for i in range(ROWS)], embeddings=_data(ROWS))
        col.compact()
    capsys.readouterr()
    assert cli_main(["index", "--path", root, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["built"] == {"first": 1, "second": 1}
    assert cli_main(["index", "--path", root, "--collection", "first"]) == 0
    assert "first: built 0 graph(s)" in capsys.readouterr().out


def test_a_fresh_process_builds_without_compiling(tmp_path):
    """numba's on-disk cache covers the build kernels: a second process loads, never compiles."""
    code = textwrap.dedent("""
        import numpy as np
        from chroma_frame.index.build import build_graph
        from chroma_frame.index.params import IndexParams
        build_graph(np.random.default_rng(0).normal(size=(3000, 16)).astype(np.float32), IndexParams())
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_DEBUG_CACHE": "1"}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, timeout=120)
    second = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, timeout=120)
    log = second.stdout.decode() + second.stderr.decode()
    assert "data loaded" in log and "data saved" not in log


def test_exit_abandons_a_real_build_within_seconds(tmp_path):
    """No stand-in: the build's own threads stop at their next check when the script ends."""
    root = str(tmp_path)
    code = textwrap.dedent("""
        import sys, time
        import numpy as np
        import chroma_frame
        col = chroma_frame.PersistentClient(sys.argv[1]).create_collection(
            "real", embedding_function=None, configuration={"hnsw": {"space": "cosine"}})
        emb = np.random.default_rng(0).normal(size=(40000, 64)).astype(np.float32)
        for lo in range(0, 40000, 5000):
            col.add(ids=[f"r{i}" for i in range(lo, lo + 5000)], embeddings=emb[lo:lo + 5000])
        col.compact()
        while col._store.index._builder is None or not list(
                __import__("pathlib").Path(sys.argv[1]).rglob("*.graph.failed.json")):
            time.sleep(0.005)  # until the build itself has started
        print(time.time(), flush=True)
    """)
    proc = subprocess.run([sys.executable, "-c", code, root], env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    assert time.time() - float(proc.stdout.split()[-1]) < 5
    assert _processes_on(root) == [] and _leftovers(root) == []
    assert not list(Path(root).rglob("*.graph.npz")) and not list(Path(root).rglob("*.graph.failed.json"))
