"""Crash-loop workload: a child process writing to a collection, SIGKILLed at random, and its checker.

The child (``python -m tests.reliability.workload child ...``) runs a seeded random sequence of adds,
upserts, updates, deletes (by id and by ``where``), compactions and queries (which start detached
index builders) on one PersistentClient collection, and creates and deletes other collections (so
the catalog is rewritten under the kills too). Around every operation it appends an ``intent``
line (with the whole operation) and, once the call has returned, an ``ack`` line to a journal,
fsynced. The parent keeps a pure-Python model of the acknowledged state; after each kill it reopens
the collection with a fresh client and checks that the state is the model, or the model plus the
whole in-flight operation (never part of it), that reads, filtered queries and graphs agree with
the model, that the other collections are those acknowledged, and that the collection takes a write.

The second half of this module drives the load test: a real ``chroma-frame run`` and several
processes of chromadb's ``HttpClient`` (``test_load.py``, ``benchmarks/reliability/load.py``).

Used by ``tests/reliability/test_crash_loop.py`` (a short seeded loop) and
``benchmarks/reliability/crash_loop.py`` (hundreds of kills).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
NAME = "crashloop"
DIM = 8
POOL = 300  # ids are drawn from id000..id299: the collection stays small, ids get reused
MIN_ROWS = 64  # blockfiles this large get a graph (Chroma-frame's default is 2048)
CONFIG = {"hnsw": {"space": "l2", "ef_search": 1000}, "nndescent": {"min_rows": MIN_ROWS}}
COMPACTION_THRESHOLD = 40  # rows in the log before a write compacts by itself
CHILD_MAX_SECONDS = 60.0  # a child never outlives a lost parent by more than this
BUILDER_MODULE = "chroma_frame.index.build"
CHILD_MODULE = "tests.reliability.workload"

Record = tuple[Optional[str], Optional[dict], tuple]  # document, metadata, embedding (float32 values)

# -- operations ----------------------------------------------------------------------------------


def _record(rng: random.Random, id_: str) -> dict[str, Any]:
    emb = np.asarray([rng.gauss(0.0, 1.0) for _ in range(DIM)], dtype=np.float32)
    return {
        "document": f"doc {id_} {rng.randrange(10**6)}",
        "metadata": {"g": rng.randrange(5), "tag": rng.choice("abc"), "x": round(rng.random(), 6)},
        "embedding": [float(x) for x in emb],  # float32 values, exact in JSON
    }


def _ids(rng: random.Random, lo: int = 1, hi: int = 25) -> list[str]:
    return [f"id{i:03d}" for i in rng.sample(range(POOL), rng.randint(lo, hi))]


def gen_op(rng: random.Random) -> dict[str, Any]:
    """One random operation, as plain JSON."""
    kind = rng.choices(
        ["add", "upsert", "update", "delete", "delete_where", "compact", "query", "get", "create_side", "delete_side"],
        weights=[26, 20, 14, 10, 3, 6, 16, 5, 3, 2],
    )[0]
    if kind in SIDE:  # other collections come and go: the catalog is rewritten under the kills too
        return {"kind": kind, "name": f"side-{rng.randrange(4)}"}
    if kind in ("add", "upsert"):
        ids = _ids(rng)
        return {"kind": kind, "ids": ids, "records": [_record(rng, i) for i in ids]}
    if kind == "update":
        ids = _ids(rng, 1, 10)
        # (a document without its embedding would need an embedding function)
        fields = rng.choice([("document", "embedding"), ("metadata",), ("embedding",), ("document", "metadata", "embedding")])
        recs = []
        for i in ids:
            full = _record(rng, i)
            rec = {f: full[f] for f in fields}
            if "metadata" in rec and rng.random() < 0.5:
                rec["metadata"] = {"g": full["metadata"]["g"]}  # a partial update: merged key by key
            recs.append(rec)
        return {"kind": "update", "ids": ids, "fields": list(fields), "records": recs}
    if kind == "delete":
        return {"kind": "delete", "ids": _ids(rng, 1, 8)}
    if kind == "delete_where":
        return {"kind": "delete_where", "where": {"$and": [{"g": rng.randrange(5)}, {"tag": rng.choice("abc")}]}}
    if kind == "query":
        return {"kind": "query", "embedding": [rng.gauss(0.0, 1.0) for _ in range(DIM)], "k": 5}
    if kind == "get":
        return {"kind": "get", "where": {"g": rng.randrange(5)}}
    return {"kind": "compact"}


WRITES = {"add", "upsert", "update", "delete", "delete_where"}
SIDE = {"create_side", "delete_side"}


def run_op(col, op: dict[str, Any]) -> None:
    """Perform ``op`` on a chroma_frame (or chromadb) collection."""
    kind = op["kind"]
    if kind in ("add", "upsert"):
        recs = op["records"]
        getattr(col, kind)(ids=op["ids"], documents=[r["document"] for r in recs],
                           metadatas=[r["metadata"] for r in recs],
                           embeddings=np.asarray([r["embedding"] for r in recs], dtype=np.float32))
    elif kind == "update":
        recs, fields = op["records"], op["fields"]
        kwargs: dict[str, Any] = {}
        if "document" in fields:
            kwargs["documents"] = [r["document"] for r in recs]
        if "metadata" in fields:
            kwargs["metadatas"] = [r["metadata"] for r in recs]
        if "embedding" in fields:
            kwargs["embeddings"] = np.asarray([r["embedding"] for r in recs], dtype=np.float32)
        col.update(ids=op["ids"], **kwargs)
    elif kind == "delete":
        col.delete(ids=op["ids"])
    elif kind == "delete_where":
        col.delete(where=op["where"])
    elif kind == "compact":
        col.compact()
    elif kind == "query":
        col.query(query_embeddings=[op["embedding"]], n_results=op["k"])
    elif kind == "get":
        col.get(where=op["where"])
    elif kind == "create_side":
        col._client.get_or_create_collection(op["name"], embedding_function=None)
    elif kind == "delete_side":
        from chroma_frame.errors import NotFoundError

        try:
            col._client.delete_collection(op["name"])
        except NotFoundError:
            pass  # Chroma's answer for a missing name; nothing changed


def _matches(meta: Optional[dict], where: dict) -> bool:
    if meta is None:
        return False
    clauses = where.get("$and", [where])
    return all(meta.get(k) == v for c in clauses for k, v in c.items())


def apply_side(sides: frozenset[str], op: Optional[dict[str, Any]]) -> frozenset[str]:
    """The set of other collections after ``op``."""
    if op is None or op["kind"] not in SIDE:
        return sides
    return sides | {op["name"]} if op["kind"] == "create_side" else sides - {op["name"]}


def apply_op(model: dict[str, Record], op: dict[str, Any]) -> dict[str, Record]:
    """The model after ``op`` (Chroma's semantics: add of an existing id and update of a missing id
    are dropped; update and upsert merge metadata key by key). The model's dict order is the
    collection's insertion order."""
    kind = op["kind"]
    if kind not in WRITES:
        return model
    out = dict(model)
    if kind == "add":
        for id_, r in zip(op["ids"], op["records"]):
            if id_ not in out:
                out[id_] = (r["document"], r["metadata"], tuple(r["embedding"]))
    elif kind == "upsert":
        for id_, r in zip(op["ids"], op["records"]):
            old = out.get(id_)
            meta = r["metadata"] if old is None or old[1] is None else {**old[1], **r["metadata"]}
            out[id_] = (r["document"], meta, tuple(r["embedding"]))
    elif kind == "update":
        for id_, r in zip(op["ids"], op["records"]):
            if id_ not in out:
                continue
            doc, meta, emb = out[id_]
            if "document" in r:
                doc = r["document"]
            if "metadata" in r:
                meta = r["metadata"] if meta is None else {**meta, **r["metadata"]}
            if "embedding" in r:
                emb = tuple(r["embedding"])
            out[id_] = (doc, meta, emb)
    elif kind == "delete":
        for id_ in op["ids"]:
            out.pop(id_, None)
    elif kind == "delete_where":
        out = {k: v for k, v in out.items() if not _matches(v[1], op["where"])}
    return out


# -- the child -----------------------------------------------------------------------------------


def open_collection(path: str):
    import chroma_frame
    from chroma_frame.config import Settings

    client = chroma_frame.PersistentClient(path=path, settings=Settings(compaction_threshold_rows=COMPACTION_THRESHOLD))
    return client.get_or_create_collection(NAME, embedding_function=None, configuration=CONFIG)


class Journal:
    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, entry: dict[str, Any]) -> None:
        os.write(self.fd, (json.dumps(entry) + "\n").encode())
        os.fsync(self.fd)


def child_main(path: str, seed: int, journal_path: str) -> int:
    journal = Journal(journal_path)
    try:
        col = open_collection(path)
        col.count()
    except BaseException as exc:  # noqa: BLE001 - reported to the parent as a reopen failure
        journal.write({"t": "open_error", "error": f"{type(exc).__name__}: {exc}"})
        return 2
    journal.write({"t": "ready", "pid": os.getpid()})
    rng = random.Random(seed)
    deadline = time.monotonic() + CHILD_MAX_SECONDS
    n = 0
    while time.monotonic() < deadline:
        op = gen_op(rng)
        journal.write({"t": "intent", "n": n, "op": op})
        try:
            run_op(col, op)
        except BaseException as exc:  # noqa: BLE001
            journal.write({"t": "error", "n": n, "error": f"{type(exc).__name__}: {exc}"})
            return 1
        journal.write({"t": "ack", "n": n})
        n += 1
    return 0


# -- the parent: journal, processes ----------------------------------------------------------------


@dataclass
class JournalState:
    ready: bool = False
    acked: list[dict] = field(default_factory=list)  # acknowledged operations, in order
    inflight: Optional[dict] = None  # the operation that had started and not returned
    error: Optional[str] = None


def read_journal(path: str) -> JournalState:
    state = JournalState()
    pending: dict[int, dict] = {}
    try:
        lines = Path(path).read_bytes().split(b"\n")
    except FileNotFoundError:
        return state
    for raw in lines:
        try:
            entry = json.loads(raw)
        except ValueError:
            continue  # the last line, cut by the kill
        t = entry["t"]
        if t == "ready":
            state.ready = True
        elif t == "intent":
            pending[entry["n"]] = entry["op"]
        elif t == "ack":
            state.acked.append(pending.pop(entry["n"]))
        elif t in ("error", "open_error"):
            state.error = f"{t}: {entry['error']}"
    if pending:
        state.inflight = pending[max(pending)]
    return state


def builder_pids(path: str, builders: bool = True) -> list[int]:
    """Index builder processes working on ``path`` (found by their command line), and crash-loop
    children: a writer killed between its fork and its exec of a builder leaves a process that is
    still named after the writer but already in a session of its own."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in cmd]
        ours = (builders and BUILDER_MODULE in args) or (CHILD_MODULE in args and "child" in args)
        if ours and any(a == path or a.startswith(path + os.sep) for a in args):
            pids.append(int(entry))
    return pids


def kill_builders(path: str, builders: bool = True, exclude: frozenset[int] = frozenset()) -> int:
    """SIGKILL the processes of :func:`builder_pids` (but ``exclude``); returns how many."""
    killed = 0
    for pid in builder_pids(path, builders):
        if pid in exclude:
            continue
        for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
            try:
                kill()  # a builder leads its own session (start_new_session=True)
                killed += 1
                break
            except (ProcessLookupError, PermissionError):
                continue
    return killed


def wait_no_builders(path: str, timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        pids = [p for p in builder_pids(path) if not _is_zombie(p)]
        if not pids or time.monotonic() > deadline:
            return pids
        kill_builders(path)
        time.sleep(0.02)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def start_child(path: str, seed: int, journal: str, env: dict[str, str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", CHILD_MODULE, "child", path, str(seed), journal]
    return subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)


# -- the parent: verification ----------------------------------------------------------------------


@dataclass
class Verdict:
    outcome: str  # "ok" | "lost" | "torn" | "phantom" | "reopen" | "order" | "query" | "graph"
    detail: str = ""
    state: Optional[dict[str, Record]] = None  # the observed state (the new model when usable)
    inflight_applied: bool = False
    graphs: int = 0
    records: int = 0
    sides: Optional[frozenset[str]] = None  # the other collections found


def _state_of(col) -> dict[str, Record]:
    got = col.get(include=["documents", "metadatas", "embeddings"])
    return {i: (d, m, tuple(float(x) for x in e))
            for i, d, m, e in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"])}


def _classify(observed: dict[str, Record], before: dict[str, Record], after: dict[str, Record],
              inflight: Optional[dict]) -> Verdict:
    touched = set()
    if inflight is not None and inflight["kind"] in WRITES:
        touched = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    wrong = sorted(k for k in set(observed) | set(before) if observed.get(k) != before.get(k) and k not in touched)
    if wrong:
        k = wrong[0]
        kind = "phantom" if k not in before else "lost"
        return Verdict(kind, f"{len(wrong)} id(s) differ from the acknowledged state, e.g. {k}: "
                             f"expected {before.get(k)!r}, found {observed.get(k)!r}")
    as_before = sorted(k for k in touched if observed.get(k) == before.get(k))
    as_after = sorted(k for k in touched if observed.get(k) == after.get(k))
    neither = sorted(touched - set(as_before) - set(as_after))
    return Verdict("torn", f"in-flight {inflight and inflight['kind']} half applied: {len(as_before)} id(s) as before, "
                           f"{len(as_after)} as after, {len(neither)} neither (e.g. {(neither or as_after or as_before)[:3]})")


def _check_queries(col, state: dict[str, Record], rng: random.Random) -> Optional[str]:
    if not state:
        return None
    ids = list(state)
    emb = np.asarray([state[i][2] for i in ids], dtype=np.float64)
    for where in (None, {"g": rng.randrange(5)}):
        mask = np.array([where is None or _matches(state[i][1], where) for i in ids])
        if not mask.any():
            continue
        q = np.asarray([rng.gauss(0.0, 1.0) for _ in range(DIM)], dtype=np.float32)
        k = min(7, int(mask.sum()))
        got = col.query(query_embeddings=[q], n_results=k, where=where, include=["distances"])
        d = ((emb - q.astype(np.float64)) ** 2).sum(1)
        d[~mask] = np.inf
        want = [ids[j] for j in np.argsort(d, kind="stable")[:k]]
        if got["ids"][0] != want:
            by_id = dict(zip(ids, d))
            got_d = [by_id.get(i, np.inf) for i in got["ids"][0]]
            want_d = sorted(d)[:k]
            if len(got_d) != k or not np.allclose(got_d, want_d, rtol=1e-5, atol=1e-6):
                return f"query where={where}: got {got['ids'][0]}, exact top-{k} is {want}"
    return None


def _check_graphs(path: str, collection_id: str) -> tuple[int, Optional[str]]:
    """Every graph file of a listed blockfile loads and covers exactly the blockfile's rows (its put
    rows, where the graph format records them)."""
    from chroma_frame.index import graph as graphs
    from chroma_frame.index.graph import CorruptIndex, index_path, load_graph
    from chroma_frame.storage.blockfile import read_blockfile
    from chroma_frame.storage.fs import Storage
    from chroma_frame.storage.manifest import read_manifest

    storage = Storage.local(path)
    prefix = f"collections/{collection_id}"
    manifest = read_manifest(storage, prefix)
    checked = 0
    for rel in manifest.blockfiles:
        table = read_blockfile(storage, prefix, rel)
        rows = table.num_rows
        if not storage.exists(f"{prefix}/{index_path(rel, 'l2')}"):
            continue
        kwargs = {}
        if hasattr(graphs, "graph_nodes"):
            kwargs["nodes"] = graphs.graph_nodes(table)
        try:
            graph = load_graph(storage, prefix, rel, rows=rows, dimension=manifest.dimension, space="l2", **kwargs)
        except CorruptIndex as exc:
            return checked, f"graph of {rel} is unusable: {exc}"
        nodes = len(graph.node_rows()) if graph is not None and hasattr(graph, "node_rows") else rows
        expected = len(kwargs["nodes"]) if kwargs else rows
        if graph is None or graph.rows != rows or len(graph.indptr) != rows + 1 or nodes != expected:
            return checked, f"graph of {rel} does not match its {rows} rows ({expected} nodes expected)"
        checked += 1
    return checked, None


def verify(path: str, model: dict[str, Record], inflight: Optional[dict], rng: random.Random,
           sides: Optional[frozenset[str]] = None) -> Verdict:
    """Reopen the collection with a fresh client and check it (and, given ``sides``, the names of the
    other collections) against the model."""
    verdict = _verify_records(path, model, inflight, rng)
    if sides is None or verdict.outcome == "reopen":
        return verdict
    import chroma_frame

    chroma_frame.Client.clear_system_cache()
    try:
        names = frozenset(c.name for c in open_collection(path)._client.list_collections()) - {NAME}
    except Exception as exc:  # noqa: BLE001
        return Verdict("reopen", f"list_collections: {type(exc).__name__}: {exc}", state=verdict.state)
    finally:
        chroma_frame.Client.clear_system_cache()
    verdict.sides = names
    after = apply_side(sides, inflight)
    missing, extra = (sides & after) - names, names - (sides | after)
    if after != sides and names == after:
        verdict.inflight_applied = True
    if verdict.outcome == "ok" and (missing or extra):
        verdict.outcome = "lost" if missing else "phantom"
        verdict.detail = (f"collections {sorted(names)}, acknowledged {sorted(sides)}, "
                          f"in flight {_describe(inflight)}")
    return verdict


def _verify_records(path: str, model: dict[str, Record], inflight: Optional[dict], rng: random.Random) -> Verdict:
    import chroma_frame
    from chroma_frame.index.manager import kernels

    chroma_frame.Client.clear_system_cache()  # a fresh System: nothing cached from earlier opens
    after = apply_op(model, inflight) if inflight is not None else model
    try:
        col = open_collection(path)
        col._store.index.auto_build = False  # the children start the builders
        observed = _state_of(col)
        count = col.count()
    except Exception as exc:  # noqa: BLE001
        return Verdict("reopen", f"{type(exc).__name__}: {exc}")
    if observed == model:
        verdict = Verdict("ok", state=observed)
    elif observed == after:
        verdict = Verdict("ok", state=observed, inflight_applied=True)
    else:
        verdict = _classify(observed, model, after, inflight)
        verdict.state = observed
        return verdict
    expected = after if verdict.inflight_applied else model
    if list(observed) != list(expected):
        return Verdict("order", f"get order {list(observed)[:8]}... differs from insertion order "
                                f"{list(expected)[:8]}...", state=observed)
    if count != len(observed):
        return Verdict("lost", f"count() is {count}, get() returned {len(observed)}", state=observed)
    try:
        verdict.graphs, problem = _check_graphs(path, str(col.id))
        if problem:
            return Verdict("graph", problem, state=observed)
        if verdict.graphs:
            kernels(wait=True)  # so that the queries below go through the graphs
        problem = _check_queries(col, observed, rng)
        if problem:
            return Verdict("query", problem, state=observed)
        # the collection takes a write, and reads it back
        op = {"kind": "upsert", "ids": _ids(rng, 1, 3)}
        op["records"] = [_record(rng, i) for i in op["ids"]]
        run_op(col, op)
        state = apply_op(observed, op)
        if _state_of(col) != state:
            return Verdict("lost", f"a write after reopening did not read back: {op['ids']}", state=_state_of(col))
        verdict.state = state
    except Exception as exc:  # noqa: BLE001
        return Verdict("reopen", f"after reopening: {type(exc).__name__}: {exc}", state=observed)
    finally:
        chroma_frame.Client.clear_system_cache()
    verdict.records = len(observed)
    return verdict


# -- the loop --------------------------------------------------------------------------------------


@dataclass
class LoopStats:
    kills: int = 0
    acked_writes: int = 0  # acknowledged write operations, all checked at every later verification
    records_checked: int = 0  # records compared with the model, summed over verifications
    inflight_applied: int = 0
    inflight_dropped: int = 0
    lost: int = 0
    torn: int = 0
    phantom: int = 0
    reopen_failures: int = 0
    other_failures: int = 0  # order, query, graph, child errors
    graphs_checked: int = 0
    builders_killed: int = 0
    leftover_processes: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.torn or self.phantom or self.reopen_failures or self.other_failures
                    or self.leftover_processes)


def create_collection(path: str) -> None:
    import chroma_frame

    chroma_frame.Client.clear_system_cache()
    open_collection(path)
    chroma_frame.Client.clear_system_cache()


def run_crash_loop(path: str, *, kills: int, seed: int, min_delay: float = 0.003, max_delay: float = 1.0,
                   builder_kill_prob: float = 1.0, stop_on_failure: bool = False,
                   progress: Optional[Callable[[int, LoopStats], None]] = None) -> LoopStats:
    """Start a child on ``path``, SIGKILL it after a random delay, verify; ``kills`` times."""
    path = os.path.realpath(path)
    os.makedirs(path, exist_ok=True)
    rng = random.Random(seed)
    stats = LoopStats()
    model: dict[str, Record] = {}
    sides: frozenset[str] = frozenset()
    create_collection(path)
    scratch = Path(path).parent / (Path(path).name + ".crashloop")
    (scratch / "tmp").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(scratch / "tmp"),  # private builder slots
           "CHROMA_FRAME_MAX_BUILDERS": "1"}
    try:
        for cycle in range(kills):
            journal = str(scratch / f"journal-{cycle}.jsonl")
            child_seed = rng.randrange(2**31)
            child = start_child(path, child_seed, journal, env)
            deadline = time.monotonic() + 60
            while not read_journal(journal).ready and child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(min_delay, max_delay))
            exited = child.poll()
            try:
                os.killpg(child.pid, signal.SIGKILL)  # the crash: the writer ...
            except ProcessLookupError:
                pass  # it had exited by itself (reported below)
            # ... and, as when a machine goes down, its builders (else they live on, as after a process crash)
            stats.builders_killed += kill_builders(path, builders=rng.random() < builder_kill_prob,
                                                   exclude=frozenset([child.pid]))  # already killed
            _, stderr = child.communicate()
            stats.kills += 1
            state = read_journal(journal)
            if exited is not None or state.error or not state.ready:
                stats.reopen_failures += state.error is not None and state.error.startswith("open_error")
                stats.other_failures += not (state.error or "").startswith("open_error")
                stats.failures.append(f"cycle {cycle} (child seed {child_seed}): child "
                                      f"{state.error or f'exited with {exited}'}\n{stderr.decode()[-2000:]}")
            for op in state.acked:
                model, sides = apply_op(model, op), apply_side(sides, op)
            stats.acked_writes += sum(op["kind"] in WRITES | SIDE for op in state.acked)
            verdict = verify(path, model, state.inflight, rng, sides)
            if verdict.outcome == "ok":
                stats.inflight_applied += verdict.inflight_applied
                stats.inflight_dropped += state.inflight is not None and not verdict.inflight_applied
                stats.records_checked += verdict.records
                stats.graphs_checked += verdict.graphs
            else:
                counter = {"lost": "lost", "torn": "torn", "phantom": "phantom", "reopen": "reopen_failures"}
                attr = counter.get(verdict.outcome, "other_failures")
                setattr(stats, attr, getattr(stats, attr) + 1)
                stats.failures.append(f"cycle {cycle} (loop seed {seed}, child seed {child_seed}): {verdict.outcome}: "
                                      f"{verdict.detail}; in flight: {_describe(state.inflight)}")
            if verdict.state is not None:
                model = verdict.state  # go on from what is there, so that one failure is counted once
            if verdict.sides is not None:
                sides = verdict.sides
            if progress is not None:
                progress(cycle, stats)
            if stats.failures and stop_on_failure:
                break
    finally:
        kill_builders(path)
        stats.leftover_processes = len(wait_no_builders(path))
    return stats


def _describe(op: Optional[dict]) -> str:
    if op is None:
        return "nothing"
    return json.dumps({k: v for k, v in op.items() if k != "records"})[:300]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    child = sub.add_parser("child")
    child.add_argument("path")
    child.add_argument("seed", type=int)
    child.add_argument("journal")
    args = parser.parse_args(argv)
    return child_main(args.path, args.seed, args.journal)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


# == load: a real server, several HttpClient processes ===============================================

LOAD_DIM = 32
LOAD_COLLECTION = "load"
LOAD_MIX = {"query": 70, "add": 10, "upsert": 10, "get_where": 5, "delete": 5}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(path: str, log_path: str, timeout: float = 60.0, extra: tuple[str, ...] = ()) -> tuple[subprocess.Popen, int]:
    """``chroma-frame run`` on a free loopback port; returns once it answers its heartbeat."""
    import httpx

    port = free_port()
    cmd = [sys.executable, "-m", "chroma_frame", "run", "--path", path, "--host", "127.0.0.1", "--port", str(port),
           *extra]
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)},
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{Path(log_path).read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).status_code == 200:
                return proc, port
        except httpx.TransportError:
            time.sleep(0.1)
    stop_server(proc)
    raise RuntimeError(f"server did not start:\n{Path(log_path).read_text()}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def server_rss_kb(pid: int) -> int:
    """VmRSS of the server and its worker processes (index builders excluded: they come and go)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            if BUILDER_MODULE.encode() in Path(f"/proc/{p}/cmdline").read_bytes():
                continue
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
        todo.extend(_children(p))
    return total


def _vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.normal(size=(n, LOAD_DIM)).astype(np.float32)


def seed_collection(port: int, rows: int) -> None:
    import chromadb

    client = chromadb.HttpClient(host="127.0.0.1", port=port)
    col = client.get_or_create_collection(LOAD_COLLECTION, embedding_function=None)
    rng = np.random.default_rng(0)
    for start in range(0, rows, 500):
        n = min(500, rows - start)
        col.add(ids=[f"seed-{i}" for i in range(start, start + n)], embeddings=_vectors(rng, n),
                documents=[f"seed document {i}" for i in range(start, start + n)],
                metadatas=[{"g": i % 10, "seed": True} for i in range(start, start + n)])
    # the server's lazy imports (DuckDB for filters) happen now, not in the measured run
    col.query(query_embeddings=_vectors(rng, 1), n_results=10, where={"g": 1})
    col.get(where={"$and": [{"g": 1}, {"seed": True}]}, limit=5)


def load_client(worker: int, port: int, start_at, ready, seconds: float, results,
                mix: Optional[dict[str, int]] = None) -> None:
    """One client process: a bounded loop of mixed calls through chromadb's HttpClient."""
    import chromadb

    rng = np.random.default_rng(1000 + worker)
    pyrng = random.Random(worker)
    samples: list[tuple[float, str, float]] = []  # (seconds since start, op, latency)
    errors: list[str] = []
    live: list[str] = []  # this worker's own ids that exist
    added = deleted = 0
    try:
        client = chromadb.HttpClient(host="127.0.0.1", port=port)
        col = client.get_collection(LOAD_COLLECTION, embedding_function=None)
        col.count()
    except Exception as exc:  # noqa: BLE001
        errors.append(f"setup: {type(exc).__name__}: {exc}")
        ready.wait()
        results.put((worker, samples, errors, 0, 0))
        return
    ready.wait()
    while start_at.value == 0.0 or time.time() < start_at.value:
        time.sleep(0.001)
    t0 = start_at.value
    end = t0 + seconds
    counter = 0
    mix = mix or LOAD_MIX
    kinds, weights = list(mix), list(mix.values())
    while (now := time.time()) < end:
        op = pyrng.choices(kinds, weights)[0]
        if op in ("upsert", "delete") and not live:
            op = "add"
        began = time.perf_counter()
        try:
            if op == "query":
                where = {"g": pyrng.randrange(10)} if pyrng.random() < 0.3 else None
                col.query(query_embeddings=_vectors(rng, 1), n_results=10, where=where)
            elif op == "add":
                n = pyrng.randint(1, 10)
                ids = [f"w{worker}-{counter + i}" for i in range(n)]
                counter += n
                col.add(ids=ids, embeddings=_vectors(rng, n), documents=[f"doc {i}" for i in ids],
                        metadatas=[{"g": pyrng.randrange(10), "worker": worker} for _ in ids])
                live.extend(ids)
                added += n
            elif op == "upsert":
                ids = pyrng.sample(live, min(len(live), pyrng.randint(1, 10)))
                col.upsert(ids=ids, embeddings=_vectors(rng, len(ids)), documents=[f"doc2 {i}" for i in ids],
                           metadatas=[{"g": pyrng.randrange(10), "worker": worker} for _ in ids])
            elif op == "get_where":
                col.get(where={"$and": [{"g": pyrng.randrange(10)}, {"worker": worker}]}, limit=20)
            elif op == "delete":
                ids = [live.pop(pyrng.randrange(len(live))) for _ in range(min(len(live), pyrng.randint(1, 3)))]
                col.delete(ids=ids)
                deleted += len(ids)
        except Exception as exc:  # noqa: BLE001 - every error is counted and reported
            errors.append(f"{op}: {type(exc).__name__}: {exc}"[:500])
        samples.append((now - t0, op, time.perf_counter() - began))
    results.put((worker, samples, errors, added, deleted))


@dataclass
class LoadReport:
    seconds: float
    clients: int
    ops: int
    throughput: float
    p50_ms: float
    p99_ms: float
    per_op: dict[str, tuple[int, float, float]]  # op -> (count, p50 ms, p99 ms)
    errors: list[str]
    rss_kb: list[tuple[float, int]]  # (seconds since start, server RSS)
    rss_warm_kb: int  # after warm-up
    expected_count: int
    final_count: int
    leftover_processes: int

    @property
    def rss_end_kb(self) -> int:
        return self.rss_kb[-1][1] if self.rss_kb else 0

    def rss_at(self, fraction: float) -> int:
        if not self.rss_kb:
            return 0
        t = self.seconds * fraction
        return min(self.rss_kb, key=lambda s: abs(s[0] - t))[1]

    def table(self) -> str:
        rows = [("clients", self.clients), ("seconds", f"{self.seconds:.0f}"), ("requests", self.ops),
                ("throughput (req/s)", f"{self.throughput:.0f}"), ("p50 latency (ms)", f"{self.p50_ms:.1f}"),
                ("p99 latency (ms)", f"{self.p99_ms:.1f}"), ("errors", len(self.errors))]
        rows += [(f"  {op}: count / p50 / p99 (ms)", f"{c} / {p50:.1f} / {p99:.1f}") for op, (c, p50, p99) in self.per_op.items()]
        rows += [("server RSS after warm-up (MB)", f"{self.rss_warm_kb / 1024:.0f}"),
                 ("server RSS at 25% / 50% / 75% (MB)",
                  " / ".join(f"{self.rss_at(f) / 1024:.0f}" for f in (0.25, 0.5, 0.75))),
                 ("server RSS at end / max (MB)",
                  f"{self.rss_end_kb / 1024:.0f} / {max((r for _, r in self.rss_kb), default=0) / 1024:.0f}"),
                 ("records expected / counted at end", f"{self.expected_count} / {self.final_count}"),
                 ("processes left running", self.leftover_processes)]
        width = max(len(r[0]) for r in rows)
        return "\n".join([f"| {'figure':<{width}} | value |", f"|{'-' * (width + 2)}|-------|"]
                         + [f"| {name:<{width}} | {value} |" for name, value in rows])


def run_load(workdir: str, *, seconds: float, clients: int, seed_rows: int = 2000, warmup: float = 1.0,
             mix: Optional[dict[str, int]] = None,
             progress: Optional[Callable[[float, int], None]] = None) -> LoadReport:
    """Start a server on ``workdir``, run ``clients`` client processes for ``seconds``, stop everything."""
    import multiprocessing as mp
    import threading

    import chromadb

    path = os.path.realpath(os.path.join(workdir, "data"))
    proc, port = start_server(path, os.path.join(workdir, "server.log"))
    ctx = mp.get_context("spawn")
    workers: list = []
    rss: list[tuple[float, int]] = []
    stop = threading.Event()
    try:
        seed_collection(port, seed_rows)
        start_at = ctx.Value("d", 0.0)
        ready = ctx.Barrier(clients + 1)
        results = ctx.Queue()
        workers = [ctx.Process(target=load_client, args=(w, port, start_at, ready, seconds, results, mix), daemon=True)
                   for w in range(clients)]
        for w in workers:
            w.start()
        ready.wait(timeout=120)
        t0 = time.time() + 0.2
        start_at.value = t0

        def sample() -> None:
            while not stop.is_set():
                now = time.time() - t0
                if now >= 0:
                    rss.append((now, server_rss_kb(proc.pid)))
                    if progress is not None:
                        progress(now, rss[-1][1])
                stop.wait(1.0)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        collected = [results.get(timeout=seconds + 120) for _ in workers]
        stop.set()
        sampler.join()
        rss.append((time.time() - t0, server_rss_kb(proc.pid)))
        for w in workers:
            w.join(timeout=30)
        client = chromadb.HttpClient(host="127.0.0.1", port=port)
        final_count = client.get_collection(LOAD_COLLECTION, embedding_function=None).count()
    finally:
        stop.set()
        for w in workers:
            if w.is_alive():
                w.kill()
                w.join()
        stop_server(proc)
        kill_builders(path)
        leftover = len(wait_no_builders(path)) + (proc.poll() is None)
    samples = [s for _, ss, _, _, _ in collected for s in ss]
    errors = [e for _, _, es, _, _ in collected for e in es]
    measured = [s for s in samples if s[0] >= warmup] or samples
    lat = np.array([s[2] for s in measured]) * 1000
    per_op = {}
    for op in LOAD_MIX:
        ms = np.array([s[2] for s in measured if s[1] == op]) * 1000
        if len(ms):
            per_op[op] = (len(ms), float(np.percentile(ms, 50)), float(np.percentile(ms, 99)))
    span = seconds - warmup if len(measured) < len(samples) else seconds
    warm = [r for t, r in rss if t >= warmup]
    return LoadReport(
        seconds=seconds, clients=clients, ops=len(samples), throughput=len(measured) / span,
        p50_ms=float(np.percentile(lat, 50)) if len(lat) else 0.0,
        p99_ms=float(np.percentile(lat, 99)) if len(lat) else 0.0,
        per_op=per_op, errors=errors, rss_kb=rss, rss_warm_kb=warm[0] if warm else (rss[0][1] if rss else 0),
        expected_count=seed_rows + sum(a - d for _, _, _, a, d in collected), final_count=final_count,
        leftover_processes=leftover,
    )
