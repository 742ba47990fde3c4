"""Corruption fuzz: damage one file of a collection, reopen it in a fresh process, compare answers.

A fixture collection (a blockfile with its graph and sparse postings, a few log entries, the
manifest, the current catalog version and ``collection.json``) is built once. Each case copies it, damages one
file (a single-bit flip, a few overwritten bytes, or a truncation at a random offset), then a
worker process (``python -m tests.reliability.corruption worker ...``) opens the copy with a new
client and runs count / get / a filtered get / a dense query / a sparse top-k. The outcome must be
either a ``ChromaError`` naming the damaged file or exactly the answers of the undamaged
collection; for derived files (graphs, postings), the answers, since those are rebuilt or scanned.

Several cases share a worker process (fast); a worker that dies (a segfault: negative return
code) or hangs is charged to the case it was running, and the rest go to a new worker.

Used by ``tests/reliability/test_corruption_fuzz.py`` (a few dozen cases) and
``benchmarks/reliability/corruption_fuzz.py`` (thousands).
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.layout import manifest_path

ROOT = Path(__file__).resolve().parents[2]
NAME = "fuzzed"
DIM = 8
ROWS = 160
MIN_ROWS = 64  # the blockfile gets a graph
CONFIG = {"hnsw": {"space": "l2", "ef_search": 1000}, "nndescent": {"min_rows": MIN_ROWS}}
SPARSE_KEY = "sp"
KINDS = ("log", "blockfile", "manifest", "catalog", "collection.json", "graph", "postings")
DERIVED = ("graph", "postings")
MUTATIONS = ("flip", "overwrite", "truncate")
WORKER_TIMEOUT = 120.0


# -- the fixture -----------------------------------------------------------------------------------


def build_fixture(path: Path) -> None:
    """A collection with every kind of file, at ``path`` (built through the public API)."""
    import numpy as np

    import chroma_frame

    rng = np.random.default_rng(7)
    client = chroma_frame.PersistentClient(path=str(path))
    col = client.create_collection(NAME, embedding_function=None, configuration=CONFIG)
    col._store.index.auto_build = False  # built below, synchronously

    def batch(lo: int, hi: int) -> dict[str, Any]:
        return dict(ids=[f"id{i:03d}" for i in range(lo, hi)],
                    embeddings=rng.standard_normal((hi - lo, DIM)).astype(np.float32).tolist(),
                    documents=[f"document {i} é" for i in range(lo, hi)],
                    metadatas=[{"g": i % 5, "tag": "abc"[i % 3], "x": i / 7, "l": [i, i + 1],
                                SPARSE_KEY: _sparse(rng)} for i in range(lo, hi)])

    col.add(**batch(0, ROWS))
    col.compact()
    col.add(**batch(ROWS, ROWS + 12))
    col.update(ids=["id003", "id170"], metadatas=[{"g": 9}, {"tag": "z"}])
    col.delete(ids=["id005", "id165"])
    col.upsert(**batch(ROWS + 10, ROWS + 16))
    _save_exact_graph(col)
    answers(col)  # a sparse search: stores the blockfile's postings
    chroma_frame.Client.clear_system_cache()


def _save_exact_graph(col, degree: int = 12) -> None:
    """The blockfile's graph: exact nearest neighbours (pynndescent's first compile takes minutes)."""
    import numpy as np

    from chroma_frame.index.graph import Graph, graph_nodes, save_graph

    store = col._store
    (seg,) = store.snapshot().base
    nodes = graph_nodes(seg.table)
    points = seg.matrix[nodes]
    dist = ((points[:, None, :] - points[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(dist, np.inf)
    near = nodes[np.argsort(dist, axis=1)[:, :degree]]
    indptr = np.zeros(seg.table.num_rows + 1, np.int64)
    indptr[nodes + 1] = degree
    np.cumsum(indptr, out=indptr)
    graph = Graph(indptr, near.reshape(-1).astype(np.int32), nodes[:8].copy(), "l2", seg.table.num_rows, DIM, nodes)
    assert graph.problem(nodes) is None
    save_graph(store.storage, store.prefix, seg.name, graph)


def _sparse(rng) -> dict[str, Any]:
    dims = sorted(int(d) for d in rng.choice(40, 3, replace=False))
    return {"#type": "sparse_vector", "indices": dims, "values": [float(v) for v in rng.random(3).round(3) + 0.1]}


def files_of(path: Path) -> dict[str, list[Path]]:
    """The fixture's files by kind."""
    (folder,) = (path / "collections").iterdir()
    blocks = sorted((folder / "blocks").iterdir())
    return {
        "log": sorted((folder / "log").glob("*.arrow")),
        "blockfile": [p for p in blocks if p.name.count(".") == 1],
        "manifest": [manifest_path(folder)],
        "catalog": sorted((path / "catalog").glob("*.json"))[-1:],  # the current version
        "collection.json": [p for p in [folder / "collection.json"] if p.exists()],
        "graph": [p for p in blocks if p.name.endswith(".graph.npz")],
        "postings": [p for p in blocks if ".sparse." in p.name],
    }


# -- what a user sees --------------------------------------------------------------------------------

QUERIES = [[0.5] * DIM, [(-1.0) ** i for i in range(DIM)], [i / DIM for i in range(DIM)]]


def answers(col) -> dict[str, Any]:
    """Everything the fuzz compares: plain JSON values."""
    import numpy as np

    from tests.engine.sparse_support import engine_top_k

    got = col.get(include=["documents", "metadatas", "embeddings"])
    out: dict[str, Any] = {
        "count": col.count(),
        "ids": got["ids"],
        "documents": got["documents"],
        "metadatas": json.loads(json.dumps(got["metadatas"], default=_plain)),
        "embeddings": np.asarray(got["embeddings"], dtype=np.float64).tolist(),
        "where": col.get(where={"$and": [{"g": 2}, {"tag": {"$ne": "b"}}]})["ids"],
    }
    res = col.query(query_embeddings=QUERIES, n_results=6, where={"g": {"$ne": 1}})
    out["query_ids"] = res["ids"]
    out["query_distances"] = [[float(d) for d in row] for row in res["distances"]]
    out["sparse"] = [[i, float(s)] for i, s in engine_top_k(col, SPARSE_KEY, {1: 1.0, 7: 0.5, 30: 2.0}, 6, bm25=False)]
    return out


def _plain(value: Any) -> Any:
    if hasattr(value, "indices"):
        return {"indices": list(value.indices), "values": [float(v) for v in value.values]}
    raise TypeError(type(value))


def same_answers(got: dict[str, Any], want: dict[str, Any]) -> bool:
    for key, expected in want.items():
        value = got.get(key)
        if key in ("query_distances", "sparse"):
            if not _close(value, expected):
                return False
        elif value != expected:
            return False
    return True


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-5)
    return a == b


# -- damage ------------------------------------------------------------------------------------------


@dataclass
class Case:
    number: int
    kind: str
    file: str  # relative to the case folder
    mutation: str
    offset: int
    detail: str = ""
    outcome: str = ""  # right | error | unclear-error | crash | hang | wrong
    message: str = ""
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def make_cases(fixture: Path, count: int, seed: int, kinds: tuple[str, ...] = KINDS) -> list[Case]:
    rng = random.Random(seed)
    files = files_of(fixture)
    kinds = tuple(k for k in kinds if files.get(k))
    cases = []
    for number in range(count):
        kind = kinds[number % len(kinds)]  # every kind in turn
        target = rng.choice(files[kind])
        size = target.stat().st_size
        mutation = rng.choice(MUTATIONS)
        offset = rng.randrange(max(size, 1))
        if mutation == "flip":
            detail = f"bit {rng.randrange(8)}"
        elif mutation == "overwrite":
            detail = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16))).hex()
        else:
            detail = ""
        cases.append(Case(number, kind, str(target.relative_to(fixture)), mutation, offset, detail))
    return cases


def damage(folder: Path, case: Case) -> None:
    path = folder / case.file
    data = bytearray(path.read_bytes())
    if case.mutation == "flip":
        data[case.offset] ^= 1 << int(case.detail.split()[1])
    elif case.mutation == "overwrite":
        patch = bytes.fromhex(case.detail)
        data[case.offset : case.offset + len(patch)] = patch
        del data[len(path.read_bytes()):]  # an overwrite never grows the file
    else:
        del data[case.offset:]
    path.write_bytes(bytes(data))


# -- running -----------------------------------------------------------------------------------------


def run_cases(fixture: Path, cases: list[Case], work: Path, per_worker: int = 100) -> dict[str, Any]:
    """Damage a copy of ``fixture`` per case and classify each outcome; returns the pristine answers.

    The first worker also reads an undamaged copy first: the answers every case must give."""
    work.mkdir(parents=True, exist_ok=True)
    pristine = work / "pristine"
    shutil.rmtree(pristine, ignore_errors=True)
    shutil.copytree(fixture, pristine)
    expected: dict[str, Any] | None = None
    pending = list(cases)
    while pending or expected is None:
        batch, pending = pending[:per_worker], pending[per_worker:]
        folders = [] if expected is not None else [pristine]
        for case in batch:
            folder = work / f"case{case.number}"
            shutil.rmtree(folder, ignore_errors=True)
            shutil.copytree(fixture, folder)
            damage(folder, case)
            folders.append(folder)
        results = _run_worker(folders)
        if expected is None:
            first = results.pop(0)
            if first.get("status") != "ok":
                raise RuntimeError(f"the undamaged fixture does not read: {first}")
            expected = first["answers"]
        for case, result in zip(batch, results):
            if result.get("status") == "not run":
                continue
            _classify(case, result, expected)
            if result.get("status") not in ("crash", "hang"):
                shutil.rmtree(work / f"case{case.number}", ignore_errors=True)
        rest = [case for case, result in zip(batch, results) if result.get("status") == "not run"]
        pending = rest + pending
    return expected


def _classify(case: Case, result: dict[str, Any], expected: dict[str, Any]) -> None:
    status = result.get("status")
    case.seconds = result.get("seconds", 0.0)
    if status in ("crash", "hang"):
        case.outcome, case.message = status, result.get("message", "")
    elif status == "error":
        case.message = result["message"]
        named = Path(case.file).name in result["message"]
        case.outcome = "error" if result["chroma"] and named else "unclear-error"
        case.extra = {"type": result["type"]}
    elif same_answers(result["answers"], expected):
        case.outcome = "right"
    else:
        case.outcome = "wrong"
        case.extra = {k: (result["answers"].get(k), v) for k, v in expected.items() if result["answers"].get(k) != v}


def _run_worker(folders: list[Path]) -> list[dict[str, Any]]:
    """Results per folder; those after a crash or hang are ``not run``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "tests.reliability.corruption", "worker", *map(str, folders)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=WORKER_TIMEOUT, env=env, cwd=str(ROOT))
        stdout, code, hung = proc.stdout, proc.returncode, False
        stderr = proc.stderr
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        code, hung = None, True
    results: dict[int, dict[str, Any]] = {}
    started = -1
    for line in stdout.splitlines():
        if line.startswith("START "):
            started = int(line.split()[1])
        elif line.startswith("RESULT "):
            _, index, payload = line.split(" ", 2)
            results[int(index)] = json.loads(payload)
    out = []
    for i in range(len(folders)):
        if i in results:
            out.append(results[i])
        elif i == started:
            status = "hang" if hung else "crash"
            out.append({"status": status, "message": f"worker {'timed out' if hung else f'exited with {code}'}: "
                                                      f"{stderr[-500:]}"})
        elif i < started or (started == -1 and not hung and code == 0):
            out.append({"status": "crash", "message": f"no result (exit {code}): {stderr[-500:]}"})
        else:
            out.append({"status": "not run"})
    if started == -1 and not results and folders:  # died before the first case: charge the first
        out[0] = {"status": "hang" if hung else "crash", "message": f"worker exited with {code}: {stderr[-500:]}"}
    return out


def worker(folders: list[str]) -> None:
    import logging

    import chroma_frame
    from chroma_frame.engine.dense_knn import prepare_kernels
    from chroma_frame.errors import ChromaError

    logging.disable(logging.WARNING)  # rebuilds of derived files warn; the outcome is what counts
    prepare_kernels(wait=True)  # so that graphs are loaded and searched, not skipped
    for index, folder in enumerate(folders):
        print(f"START {index}", flush=True)
        started = time.monotonic()
        try:
            chroma_frame.Client.clear_system_cache()
            client = chroma_frame.PersistentClient(path=folder)
            col = client.get_collection(NAME, embedding_function=None)
            col._store.index.auto_build = False  # no builder processes: a damaged graph is scanned around
            result = {"status": "ok", "answers": answers(col)}
        except Exception as exc:  # noqa: BLE001 - classified by the parent
            result = {"status": "error", "chroma": isinstance(exc, ChromaError), "type": type(exc).__name__,
                      "message": str(exc)[:2000]}
        result["seconds"] = round(time.monotonic() - started, 3)
        print(f"RESULT {index} {json.dumps(result)}", flush=True)
    chroma_frame.Client.clear_system_cache()


def summary(cases: list[Case]) -> dict[str, int]:
    counts = {"flips tried": len(cases)}
    for outcome in ("error", "right", "unclear-error", "crash", "hang", "wrong"):
        counts[outcome] = sum(case.outcome == outcome for case in cases)
    counts["derived not right"] = sum(case.kind in DERIVED and case.outcome != "right" for case in cases)
    return counts


if __name__ == "__main__":
    if sys.argv[1] == "worker":
        worker(sys.argv[2:])
