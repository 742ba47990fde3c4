"""Vector search benchmark: chroma-frame against chromadb 1.5.9 and an exact numpy scan, in one run.

    python benchmarks/bench_search.py [--docs PATH] [--queries PATH] [--gt PATH]
                                      [--systems chroma-frame,chromadb,exact] [--out benchmarks/results]

The corpus is any Parquet file with ``id``, ``document``, an ``embedding`` fixed-size-list column and
scalar metadata columns (all other scalar columns; nulls are left out of each record's metadata). The
query file needs an ``embedding`` column. ``--gt`` is an (n_queries, >=10) array of corpus row numbers,
the exact cosine neighbours of each query; without it they are computed here with numpy.

Each system runs in its own subprocess, one after the other, on the same data (peak RSS is per
system, read with ``getrusage`` in the child). Per system: ingest time (``add`` in batches of 5,000),
time until queries use the index, recall@10, single-query latency with Chroma's default ``include``,
batch throughput (all queries in one call, ``include=["distances"]``), recall and latency with filters
matching about 1%, 10% and 50% of the rows (range clauses on a numeric metadata column, chosen from
the data), peak RSS, size on disk and cold start (a fresh process that opens the persisted collection
and answers one query; timed inside that process from before its imports). Results go to
``OUT/search.json`` and ``OUT/search.md``.
"""

import time

_T0 = time.perf_counter()  # cold-start runs measure from here: before any heavy import

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

from report import fmt  # noqa: E402 - benchmarks/report.py (this script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
DATA = Path("/work/shared/data")
SYSTEMS = ("chroma-frame", "chromadb", "exact")
COLLECTION = "bench"
TARGETS = (0.01, 0.10, 0.50)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return list(os.getloadavg())


def vmhwm_mb() -> float:
    """Peak RSS of this process since its exec (Linux /proc), to cross-check ru_maxrss."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def maxrss_mb(who: int) -> float:
    import resource

    return resource.getrusage(who).ru_maxrss / 1024  # Linux: KiB


def du_bytes(path: str) -> dict:
    out = subprocess.run(["du", "-sk", path], capture_output=True, text=True).stdout.split()
    apparent = subprocess.run(["du", "-sb", path], capture_output=True, text=True).stdout.split()
    return {"du_bytes": int(out[0]) * 1024 if out else None, "apparent_bytes": int(apparent[0]) if apparent else None}


# --------------------------------------------------------------------------------------------
# data


def _records(table):
    """ids, documents, per-record metadata dicts (nulls skipped), float32 matrix, numeric columns."""
    import numpy as np
    import pyarrow as pa

    ids = [str(x) for x in table.column("id").to_pylist()]
    docs = table.column("document").to_pylist() if "document" in table.column_names else None
    matrix = embedding_matrix(table.column("embedding"))
    columns, numeric = {}, {}
    for field in table.schema:
        if field.name in ("id", "document", "embedding"):
            continue
        t = field.type
        if pa.types.is_nested(t) or pa.types.is_binary(t) or pa.types.is_null(t):
            continue
        col = table.column(field.name)
        if pa.types.is_temporal(t) or pa.types.is_decimal(t) or pa.types.is_dictionary(t):
            col = col.cast(pa.string())
        values = col.to_pylist()
        if pa.types.is_integer(t) or pa.types.is_floating(t):
            numeric[field.name] = (np.array([np.nan if v is None else v for v in values], dtype=np.float64),
                                   pa.types.is_integer(t))
        columns[field.name] = values
    names = list(columns)
    metas = []
    for i in range(len(ids)):
        m = {k: columns[k][i] for k in names if columns[k][i] is not None}
        metas.append(m or None)
    return ids, docs, metas, matrix, numeric


def load_corpus(path: str):
    import pyarrow.parquet as pq

    return _records(pq.read_table(path))


def iter_corpus(path: str, batch: int):
    """The corpus in batches of ``batch`` records, read as they are needed (the harness stays small)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pending, count = [], 0

    def emit(table):
        ids, docs, metas, matrix, _ = _records(table)
        return ids, docs, metas, matrix

    for rb in pq.ParquetFile(path).iter_batches(batch_size=batch):
        pending.append(rb)
        count += rb.num_rows
        while count >= batch:  # exactly ``batch`` records per add, whatever the row groups
            table = pa.Table.from_batches(pending)
            rest = table.slice(batch)
            yield emit(table.slice(0, batch))
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield emit(pa.Table.from_batches(pending))


def embedding_matrix(column):
    import numpy as np
    import pyarrow as pa

    column = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    if pa.types.is_fixed_size_list(column.type):
        dim = column.type.list_size
        values = column.values.slice(column.offset * dim, len(column) * dim)
        return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(-1, dim)
    return np.asarray(column.to_pylist(), dtype=np.float32)


def normalise(x):
    import numpy as np

    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (x / norms).astype(np.float32)


def where_mask(where: dict, numeric: dict, n: int):
    """Rows matching a ``where`` clause made of $and/$or and comparisons on numeric columns."""
    import numpy as np

    if "$and" in where:
        mask = np.ones(n, bool)
        for sub in where["$and"]:
            mask &= where_mask(sub, numeric, n)
        return mask
    if "$or" in where:
        mask = np.zeros(n, bool)
        for sub in where["$or"]:
            mask |= where_mask(sub, numeric, n)
        return mask
    (key, cond), = where.items()
    values = numeric[key][0]
    valid = ~np.isnan(values)
    if not isinstance(cond, dict):
        cond = {"$eq": cond}
    (op, arg), = cond.items()
    with np.errstate(invalid="ignore"):
        if op == "$gte":
            mask = values >= arg
        elif op == "$gt":
            mask = values > arg
        elif op == "$lte":
            mask = values <= arg
        elif op == "$lt":
            mask = values < arg
        elif op == "$eq":
            mask = values == arg
        elif op == "$ne":
            mask = values != arg
        elif op == "$in":
            mask = np.isin(values, arg)
        elif op == "$nin":
            mask = ~np.isin(values, arg)
        else:
            raise ValueError(f"unsupported operator {op}")
    return mask & valid  # a record without the key never matches


def exact_topk(xn, qn, k: int, mask=None):
    """Exact cosine neighbours: row numbers (-1 padded) and distances (1 - cos), closest first."""
    import numpy as np

    rows = None
    if mask is not None:
        rows = np.flatnonzero(mask)
        if len(rows) < 0.25 * xn.shape[0]:
            scores = qn @ xn[rows].T
        else:
            scores = qn @ xn.T
            scores[:, ~mask] = -np.inf
            rows = None
    else:
        scores = qn @ xn.T
    kk = min(k, scores.shape[1] if rows is None else len(rows))
    out = np.full((qn.shape[0], k), -1, dtype=np.int64)
    dist = np.full((qn.shape[0], k), np.inf, dtype=np.float32)
    if kk == 0:
        return out, dist
    part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    top = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-top, axis=1, kind="stable")
    part = np.take_along_axis(part, order, axis=1)
    top = np.take_along_axis(top, order, axis=1)
    if mask is not None and rows is None:
        keep = np.isfinite(top)
        part = np.where(keep, part, -1)
    out[:, :kk] = part if rows is None else rows[part]
    dist[:, :kk] = 1.0 - top
    return out, dist


def choose_filters(numeric: dict, n: int, targets=TARGETS) -> list[dict]:
    """Range clauses on one numeric metadata column matching about each target fraction of rows."""
    import math

    import numpy as np

    usable = {k: v for k, v in numeric.items() if len(np.unique(v[0][~np.isnan(v[0])])) >= 3}
    if not usable:
        return []
    if "year" in usable:
        key = "year"
    else:
        key = max(usable, key=lambda k: (int((~np.isnan(usable[k][0])).sum()), len(np.unique(usable[k][0]))))
    values, is_int = usable[key]
    present = np.sort(values[~np.isnan(values)])
    grid = np.unique(present)
    if len(grid) > 400:
        grid = np.unique(np.quantile(present, np.linspace(0, 1, 401), method="nearest"))
    lo_idx, hi_idx = np.triu_indices(len(grid))
    counts = np.searchsorted(present, grid[hi_idx], "right") - np.searchsorted(present, grid[lo_idx], "left")
    one_sided = (lo_idx == 0) | (hi_idx == len(grid) - 1)
    out = []
    for target in targets:
        err = np.abs(np.log(np.maximum(counts, 1) / (target * n)))
        err = err + np.where(one_sided, 0.0, 0.02)  # prefer a one-sided clause when about as close
        best = int(np.argmin(err))
        lo, hi = grid[lo_idx[best]], grid[hi_idx[best]]
        cast = (lambda v: int(v)) if is_int else (lambda v: float(v))
        if lo_idx[best] == 0:
            where = {key: {"$lte": cast(hi)}}
        elif hi_idx[best] == len(grid) - 1:
            where = {key: {"$gte": cast(lo)}}
        else:
            where = {"$and": [{key: {"$gte": cast(lo)}}, {key: {"$lte": cast(hi)}}]}
        matching = int(where_mask(where, numeric, n).sum())
        out.append({"target": target, "where": where, "matching": matching, "selectivity": matching / n})
        assert not math.isnan(out[-1]["selectivity"])
    return out


def recall_at(got: list, gt_row, k: int = 10) -> float:
    truth = {int(x) for x in gt_row[:k] if x >= 0}
    if not truth:
        return 1.0
    return len(truth.intersection(got[:k])) / len(truth)


def pct(values: list, q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


# --------------------------------------------------------------------------------------------
# systems (used in the children)


class ChromaFrame:
    name = "chroma-frame"

    def __init__(self, path: str, create: bool = True) -> None:
        sys.path.insert(0, str(ROOT))
        import chroma_frame

        self.client = chroma_frame.PersistentClient(path=path)
        if create:
            self.col = self.client.create_collection(
                COLLECTION, embedding_function=None,
                configuration={"hnsw": {"space": "cosine", "ef_search": 100}})
        else:
            self.col = self.client.get_collection(COLLECTION, embedding_function=None)

    def add(self, ids, embeddings, metadatas, documents) -> None:
        self.col.add(ids=ids, embeddings=embeddings, metadatas=metadatas, documents=documents)

    def query(self, q, n_results=10, where=None, include=None):
        kwargs = {"query_embeddings": q, "n_results": n_results}
        if where is not None:
            kwargs["where"] = where
        if include is not None:
            kwargs["include"] = include
        return self.col.query(**kwargs)

    def after_ingest(self, probe, timeout: float) -> dict:
        """compact(), then time until wait_for_index() returns, querying every 2 s meanwhile."""
        out = {"status_after_add": self.col.index_status()}
        t = time.perf_counter()
        self.col.compact()
        out["compact_s"] = time.perf_counter() - t
        t_end_compact = time.perf_counter()
        out["status_after_compact"] = self.col.index_status()
        samples, stop = [], threading.Event()

        def sampler() -> None:
            i = 0
            while not stop.is_set():
                q = probe(i)
                t0 = time.perf_counter()
                res = self.query(q)
                lat = time.perf_counter() - t0
                samples.append({"at_s": round(t0 - t_end_compact, 3), "latency_ms": lat * 1e3,
                                "n_results": len(res["ids"][0]), "status": self.col.index_status()})
                i += 1
                stop.wait(2.0)

        thread = threading.Thread(target=sampler, daemon=True)
        thread.start()
        ready = self.col.wait_for_index(timeout)
        out["time_to_index_s"] = time.perf_counter() - t_end_compact
        out["index_ready"] = bool(ready)
        stop.set()
        thread.join()
        out["status_after_wait"] = self.col.index_status()
        during = [s for s in samples if s["status"]["indexed_rows"] < sum(
            (s["status"]["indexed_rows"], s["status"]["exact_rows"])) or not s["status"]["kernels_ready"]]
        out["queries_during_build"] = samples
        out["during_build_first_ms"] = during[0]["latency_ms"] if during else None
        out["during_build_p50_ms"] = pct([s["latency_ms"] for s in during], 50) if during else None
        out["during_build_count"] = len(during)
        return out

    def close(self) -> None:
        pass


class Chromadb(ChromaFrame):
    name = "chromadb"

    def __init__(self, path: str, create: bool = True) -> None:
        import chromadb

        self.client = chromadb.PersistentClient(path=path)
        if create:
            self.col = self.client.create_collection(
                COLLECTION, embedding_function=None,
                configuration={"hnsw": {"space": "cosine", "ef_search": 100}})
        else:
            self.col = self.client.get_collection(COLLECTION, embedding_function=None)

    def after_ingest(self, probe, timeout: float) -> dict:
        return {"time_to_index_s": 0.0, "index_ready": True}  # HNSW is built during add


class Exact:
    """Normalised float32 matrix and argpartition; metadata filters evaluated with numpy."""

    name = "exact"

    def __init__(self, path: str, create: bool = True) -> None:
        import numpy as np

        self.np = np
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.parts, self.ids, self.docs, self.metas = [], [], [], []
        self.numeric = None
        if not create:
            self.xn = np.load(self.path / "matrix.npy", mmap_mode=None, allow_pickle=False)
            with open(self.path / "records.json") as f:
                rec = json.load(f)
            self.ids, self.docs, self.metas = rec["ids"], rec["documents"], rec["metadatas"]

    def add(self, ids, embeddings, metadatas, documents) -> None:
        self.parts.append(normalise(self.np.asarray(embeddings, dtype=self.np.float32)))
        self.ids += ids
        self.docs += documents or [None] * len(ids)
        self.metas += metadatas or [None] * len(ids)

    def finish_ingest(self) -> None:
        np = self.np
        self.xn = np.concatenate(self.parts)
        self.parts = []
        np.save(self.path / "matrix.npy", self.xn)
        with open(self.path / "records.json", "w") as f:
            json.dump({"ids": self.ids, "documents": self.docs, "metadatas": self.metas}, f)
        keys = sorted({k for m in self.metas if m for k, v in m.items()
                       if isinstance(v, (int, float)) and not isinstance(v, bool)})
        self.numeric = {k: (np.array([m.get(k, np.nan) if m else np.nan for m in self.metas], dtype=np.float64),
                            True) for k in keys}

    def after_ingest(self, probe, timeout: float) -> dict:
        return {"time_to_index_s": 0.0, "index_ready": True}

    def query(self, q, n_results=10, where=None, include=None):
        np = self.np
        q = normalise(np.atleast_2d(np.asarray(q, dtype=np.float32)))
        mask = None if where is None else where_mask(where, self.numeric, len(self.ids))
        rows, dist = exact_topk(self.xn, q, n_results, mask)
        include = ["metadatas", "documents", "distances"] if include is None else include
        res = {"ids": [[self.ids[r] for r in row if r >= 0] for row in rows]}
        if "distances" in include:
            res["distances"] = [[float(d) for d, r in zip(ds, row) if r >= 0] for ds, row in zip(dist, rows)]
        if "documents" in include:
            res["documents"] = [[self.docs[r] for r in row if r >= 0] for row in rows]
        if "metadatas" in include:
            res["metadatas"] = [[self.metas[r] for r in row if r >= 0] for row in rows]
        return res

    def close(self) -> None:
        pass


ADAPTERS = {"chroma-frame": ChromaFrame, "chromadb": Chromadb, "exact": Exact}


# --------------------------------------------------------------------------------------------
# child: one system, everything but cold start


def run_child(system: str, work: Path) -> None:
    import resource

    import numpy as np

    cfg = json.loads((work / "config.json").read_text())
    res = {"system": system, "load_start": loadavg()}
    import pyarrow.parquet as pq

    ids = [str(x) for x in pq.read_table(cfg["docs"], columns=["id"]).column("id").to_pylist()]
    row_of = {x: i for i, x in enumerate(ids)}
    queries = np.load(work / "queries.npy")
    gt = np.load(work / "gt.npy")
    filters = json.loads((work / "filters.json").read_text())
    res["rss_after_data_mb"] = maxrss_mb(resource.RUSAGE_SELF)
    res["rss_after_data_vmhwm_mb"] = vmhwm_mb()
    path = str(work / system)
    adapter = ADAPTERS[system](path, create=True)
    res["rss_after_open_mb"] = maxrss_mb(resource.RUSAGE_SELF)

    # ingest
    batch = cfg["batch"]
    n = len(ids)
    log(f"{system}: adding {n} records in batches of {batch}")
    batch_times = []
    t_all = time.perf_counter()
    for b_ids, b_docs, b_metas, b_matrix in iter_corpus(cfg["docs"], batch):  # reading is not timed
        t = time.perf_counter()
        adapter.add(b_ids, b_matrix, b_metas, b_docs)
        batch_times.append(time.perf_counter() - t)
    del b_ids, b_docs, b_metas, b_matrix
    if isinstance(adapter, Exact):
        t = time.perf_counter()
        adapter.finish_ingest()
        batch_times.append(time.perf_counter() - t)
    res["ingest_wall_s"] = time.perf_counter() - t_all  # with the reading of the Parquet file
    res["ingest_s"] = sum(batch_times)
    res["ingest_batches_s"] = batch_times
    res["ingest_rows_per_s"] = n / res["ingest_s"]
    log(f"{system}: ingest {res['ingest_s']:.1f} s; waiting for the index")
    res.update(adapter.after_ingest(lambda i: queries[i % len(queries)][None, :], cfg["index_timeout"]))
    log(f"{system}: queries use the index after {res['time_to_index_s']:.1f} s")

    def rows_of(result_ids):
        return [row_of.get(x, -1) for x in result_ids]

    # warm-up (same for every system)
    for i in range(cfg["warmup"]):
        adapter.query(queries[i % len(queries)][None, :])

    # single queries, default include
    n_single = min(cfg["single"], len(queries))
    passes = []
    for _ in range(cfg["repeats"]):
        lat, rec = [], []
        for i in range(n_single):
            t = time.perf_counter()
            out = adapter.query(queries[i][None, :])
            lat.append(time.perf_counter() - t)
            rec.append(recall_at(rows_of(out["ids"][0]), gt[i]))
        passes.append({"p50_ms": pct(lat, 50) * 1e3, "p99_ms": pct(lat, 99) * 1e3, "mean_ms": float(np.mean(lat)) * 1e3,
                       "recall10": float(np.mean(rec)), "load": loadavg()})
    best = min(passes, key=lambda p: p["p50_ms"])
    res["single"] = {"queries": n_single, "passes": passes, **{k: best[k] for k in ("p50_ms", "p99_ms", "mean_ms")},
                     "recall10": best["recall10"]}
    log(f"{system}: single p50 {best['p50_ms']:.2f} ms, p99 {best['p99_ms']:.2f} ms, recall {best['recall10']:.4f}")

    # batch: every query in one call
    passes = []
    for _ in range(cfg["repeats"]):
        t = time.perf_counter()
        out = adapter.query(queries, include=["distances"])
        dt = time.perf_counter() - t
        rec = [recall_at(rows_of(r), gt[i]) for i, r in enumerate(out["ids"])]
        passes.append({"seconds": dt, "qps": len(queries) / dt, "recall10": float(np.mean(rec)), "load": loadavg()})
    best = max(passes, key=lambda p: p["qps"])
    res["batch"] = {"queries": len(queries), "passes": passes, "qps": best["qps"], "recall10": best["recall10"]}
    log(f"{system}: batch {best['qps']:.0f} q/s, recall@10 {best['recall10']:.4f}")

    # filtered single queries, default include
    res["filtered"] = []
    for fi, f in enumerate(filters):
        fgt = np.load(work / f"filtered_gt_{fi}.npy")
        lat, rec, short = [], [], 0
        for i in range(len(fgt)):
            t = time.perf_counter()
            out = adapter.query(queries[i][None, :], where=f["where"])
            lat.append(time.perf_counter() - t)
            got = rows_of(out["ids"][0])
            rec.append(recall_at(got, fgt[i]))
            short += len(got) < min(10, f["matching"])
        res["filtered"].append({"target": f["target"], "selectivity": f["selectivity"], "queries": len(fgt),
                                "p50_ms": pct(lat, 50) * 1e3, "p99_ms": pct(lat, 99) * 1e3,
                                "recall10": float(np.mean(rec)), "short_results": short, "load": loadavg()})
        log(f"{system}: filter {f['selectivity']:.1%}: p50 {pct(lat, 50) * 1e3:.2f} ms, recall {np.mean(rec):.4f}")

    adapter.close()
    res["peak_rss_mb"] = maxrss_mb(resource.RUSAGE_SELF)
    res["peak_rss_vmhwm_mb"] = vmhwm_mb()
    res["children_peak_rss_mb"] = maxrss_mb(resource.RUSAGE_CHILDREN)  # chroma-frame's graph builder
    res.update(du_bytes(path))
    res["load_end"] = loadavg()
    (work / f"result_{system}.json").write_text(json.dumps(res, indent=1, default=float))


def run_cold(system: str, work: Path) -> None:
    """Fresh process: open the persisted collection and answer one query (default include)."""
    q = json.loads((work / "cold_query.json").read_text())
    adapter = ADAPTERS[system](str(work / system), create=False)
    t_open = time.perf_counter() - _T0
    out = adapter.query([q])
    t_first = time.perf_counter() - _T0
    wall_now = time.time()
    res = {"system": system, "open_s": t_open, "first_result_s": t_first, "n_results": len(out["ids"][0])}
    try:  # the same, counted from the exec of the process (interpreter start-up included; 10 ms ticks)
        import psutil

        res["since_exec_s"] = wall_now - psutil.Process().create_time()
    except ImportError:
        pass
    if system == "chroma-frame":
        t = time.perf_counter()
        res["index_ready"] = bool(adapter.col.wait_for_index(600))
        res["then_index_ready_s"] = time.perf_counter() - t
        lat = []
        for _ in range(5):
            t = time.perf_counter()
            adapter.query([q])
            lat.append(time.perf_counter() - t)
        res["indexed_query_ms"] = sorted(lat)[len(lat) // 2] * 1e3
        res["numba_cache_dir"] = os.environ.get("NUMBA_CACHE_DIR")
    (work / f"cold_{system}_{os.getpid()}.json").write_text(json.dumps(res))
    print(json.dumps(res))


# --------------------------------------------------------------------------------------------
# parent


def source_fingerprint() -> str:
    """A hash of chroma_frame's sources: the working tree may change under a long run."""
    import hashlib

    h = hashlib.sha1()
    for f in sorted((ROOT / "chroma_frame").rglob("*.py")):
        h.update(str(f.relative_to(ROOT)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def machine() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()}
    try:
        info["cpu"] = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
        mem = next(line for line in open("/proc/meminfo") if line.startswith("MemTotal"))
        info["ram_gb"] = round(int(mem.split()[1]) / 1024 ** 2, 1)
    except (OSError, StopIteration):
        pass
    try:
        info["affinity_cpus"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    versions = {}
    for mod in ("chromadb", "numpy", "pyarrow", "duckdb", "pynndescent", "numba"):
        try:
            from importlib.metadata import version

            versions[mod] = version(mod)
        except Exception:
            versions[mod] = None
    try:
        versions["chroma-frame (git)"] = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                                        capture_output=True, text=True).stdout.strip() + (
            " +uncommitted" if subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "chroma_frame"],
                                              capture_output=True, text=True).stdout.strip() else "")
    except OSError:
        pass
    info["versions"] = versions
    return info


def prepare(args, work: Path) -> dict:
    """Queries, ground truth, filters and their ground truth, written to ``work`` (run in a child:
    on Linux a child started by exec inherits its parent's peak RSS as its own ``ru_maxrss``, so the
    parent must stay small)."""
    import numpy as np

    log(f"loading {args.docs}")
    ids, _docs, _metas, matrix, numeric = load_corpus(args.docs)
    import pyarrow.parquet as pq

    queries = embedding_matrix(pq.read_table(args.queries, columns=["embedding"]).column("embedding"))
    if args.max_queries:
        queries = queries[: args.max_queries]
    xn, qn = normalise(matrix), normalise(queries)
    info = {"corpus_rows": len(ids), "dimension": int(matrix.shape[1]), "queries": len(queries)}
    if args.gt:
        gt = np.load(args.gt, allow_pickle=False)[: len(queries), :10].astype(np.int64)
        sample = min(50, len(queries))
        check, _ = exact_topk(xn, qn[:sample], 10)
        agreement = float(np.mean([recall_at(list(check[i]), gt[i]) for i in range(sample)]))
        info["gt"] = f"{args.gt} (agrees with numpy on {agreement:.3f} of the first {sample} queries' top 10)"
        if agreement < 0.95:
            log(f"warning: --gt agrees with an exact numpy scan on only {agreement:.3f}")
    else:
        log("computing exact ground truth with numpy")
        gt = np.concatenate([exact_topk(xn, qn[i:i + 256], 10)[0] for i in range(0, len(qn), 256)])
        info["gt"] = "computed with numpy (exact cosine)"
    filters = choose_filters(numeric, len(ids))
    n_f = min(args.filtered_queries, len(queries))
    for fi, f in enumerate(filters):
        mask = where_mask(f["where"], numeric, len(ids))
        fgt, _ = exact_topk(xn, qn[:n_f], 10, mask)
        np.save(work / f"filtered_gt_{fi}.npy", fgt)
        log(f"filter ~{f['target']:.0%}: {json.dumps(f['where'])} matches {f['matching']} rows ({f['selectivity']:.2%})")
    np.save(work / "queries.npy", queries)
    np.save(work / "gt.npy", gt)
    (work / "filters.json").write_text(json.dumps(filters))
    (work / "cold_query.json").write_text(json.dumps([float(v) for v in queries[0]]))
    (work / "config.json").write_text(json.dumps({
        "docs": str(args.docs), "batch": args.batch, "single": args.single, "repeats": args.repeats,
        "warmup": args.warmup, "index_timeout": args.index_timeout}))
    info["filters"] = filters
    (work / "prepare.json").write_text(json.dumps(info))
    return info


def run_subprocess(argv: list[str], env=None, timeout=None) -> tuple[int, float, str]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), *argv], env=env, timeout=timeout,
                          stdout=subprocess.PIPE, text=True)
    return proc.returncode, time.perf_counter() - t, proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", default=str(DATA / "pypi_docs_50k.parquet"))
    parser.add_argument("--queries", default=str(DATA / "pypi_queries_1k.parquet"))
    parser.add_argument("--gt", default=None, help="exact top-k row numbers (.npy); computed with numpy when absent")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--batch", type=int, default=5000, help="records per add() call")
    parser.add_argument("--single", type=int, default=300, help="single queries timed per pass")
    parser.add_argument("--filtered-queries", type=int, default=200, help="single queries per filter")
    parser.add_argument("--repeats", type=int, default=2, help="passes of the single and batch timings (best kept)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--max-queries", type=int, default=0, help="use only the first N queries (0: all)")
    parser.add_argument("--index-timeout", type=float, default=1800.0)
    parser.add_argument("--work", default=None, help="scratch directory (default: a new temporary one, removed)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--cold", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        prepare(args, Path(args.work))
        return 0
    if args.child:
        run_child(args.child, Path(args.work))
        return 0
    if args.cold:
        run_cold(args.cold, Path(args.work))
        return 0
    if args.gt is None and Path(args.docs) == DATA / "pypi_docs_50k.parquet" and (DATA / "pypi_gt_top100.npy").exists() \
            and Path(args.queries) == DATA / "pypi_queries_1k.parquet":
        args.gt = str(DATA / "pypi_gt_top100.npy")
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    for s in systems:
        if s not in ADAPTERS:
            parser.error(f"unknown system {s!r}; choose from {', '.join(SYSTEMS)}")

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench_search_"))
    work.mkdir(parents=True, exist_ok=True)
    report = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": " ".join([Path(sys.executable).name, *sys.argv]),
              "machine": machine(), "load_start": loadavg(), "batch": args.batch,
              "sources_start": source_fingerprint()}
    try:
        passthrough = ["--docs", args.docs, "--queries", args.queries, "--batch", str(args.batch),
                       "--single", str(args.single), "--filtered-queries", str(args.filtered_queries),
                       "--repeats", str(args.repeats), "--warmup", str(args.warmup),
                       "--max-queries", str(args.max_queries), "--index-timeout", str(args.index_timeout)]
        if args.gt:
            passthrough += ["--gt", args.gt]
        code, _, _ = run_subprocess(["--prepare", "--work", str(work), *passthrough])
        if code != 0:
            raise SystemExit(f"preparing the data failed ({code})")
        report["data"] = json.loads((work / "prepare.json").read_text())
        report["results"] = {}
        for system in systems:
            log(f"--- {system} (load {loadavg()})")
            code, wall, _ = run_subprocess(["--child", system, "--work", str(work)])
            result_file = work / f"result_{system}.json"
            if code != 0 or not result_file.exists():
                report["results"][system] = {"error": f"child exited with {code}"}
                continue
            report["results"][system] = json.loads(result_file.read_text())
            report["results"][system]["child_wall_s"] = wall
        # cold starts, interleaved so that load hits every system alike
        cold = {s: [] for s in systems if "error" not in report["results"][s]}
        for _ in range(args.cold_runs):
            for system in cold:
                code, wall, out = run_subprocess(["--cold", system, "--work", str(work)])
                if code == 0 and out.strip():
                    r = json.loads(out.strip().splitlines()[-1])
                    r["wall_with_interpreter_s"] = wall
                    r["load"] = loadavg()
                    cold[system].append(r)
                    log(f"cold start {system}: first result at {r['first_result_s']:.3f} s (process wall {wall:.3f} s)")
        if "chroma-frame" in cold:  # once with an empty numba cache, for contrast
            with tempfile.TemporaryDirectory(prefix="numba_cache_") as empty:
                env = {**os.environ, "NUMBA_CACHE_DIR": empty}
                code, wall, out = run_subprocess(["--cold", "chroma-frame", "--work", str(work)], env=env)
                if code == 0 and out.strip():
                    r = json.loads(out.strip().splitlines()[-1])
                    r["wall_with_interpreter_s"] = wall
                    report["cold_empty_numba_cache"] = r
                    log(f"cold start chroma-frame, empty numba cache: first result {r['first_result_s']:.3f} s, "
                        f"graph in use {r['then_index_ready_s']:.1f} s later")
        for system, runs in cold.items():
            if runs:
                firsts = sorted(r["first_result_s"] for r in runs)
                report["results"][system]["cold_start"] = {"runs": runs, "median_s": firsts[len(firsts) // 2],
                                                           "min_s": firsts[0]}
    finally:
        report["load_end"] = loadavg()
        report["sources_end"] = source_fingerprint()
        if args.keep or args.work:
            log(f"scratch kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "search.json").write_text(json.dumps(report, indent=1, default=float))
    (out / "search.md").write_text(markdown(report))
    log(f"wrote {out / 'search.md'} and {out / 'search.json'}")
    print((out / "search.md").read_text())
    return 0


# --------------------------------------------------------------------------------------------
# report


def markdown(report: dict) -> str:
    res = report.get("results", {})
    data = report.get("data", {})
    cf, cd, ex = (res.get(s, {}) for s in SYSTEMS)

    def get(r, *path):
        for p in path:
            if r is None:
                return None
            if isinstance(p, int):
                r = r[p] if isinstance(r, list) and len(r) > p else None
            else:
                r = r.get(p) if isinstance(r, dict) else None
        return r

    rows = []  # (label, path or fn, digits, target description, check(ratio, cf_value))

    def add(label, fn, digits=2, target="", check=None):
        a, b, c = fn(cf), fn(cd), fn(ex)
        ratio = a / b if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else None
        met = ""
        if check is not None and a is not None:
            ok = check(ratio, a)
            met = "" if ok is None else ("yes" if ok else "**no**")
        rows.append(f"| {label} | {fmt(a, digits)} | {fmt(b, digits)} | {fmt(c, digits)} | "
                    f"{fmt(ratio, 2) if ratio is not None else '—'} | {target} | {met} |")

    n = data.get("corpus_rows", 0)
    add(f"ingest: add {n:,} in batches of {report.get('batch')} (s)", lambda r: get(r, "ingest_s"), 1,
        "ratio ≤ 0.10", lambda q, a: q is not None and q <= 0.10)
    add("compact() after the adds (s)", lambda r: get(r, "compact_s"), 2)
    add("add + compact (s)", lambda r: None if get(r, "ingest_s") is None else get(r, "ingest_s") + (get(r, "compact_s") or 0), 1)
    add("time until queries use the index (s)", lambda r: get(r, "time_to_index_s"), 1)
    add("first query during the index build (ms)", lambda r: get(r, "during_build_first_ms"), 1,
        "answers during build", lambda q, a: a is not None)
    add("p50 of the queries during the build, every 2 s (ms)", lambda r: get(r, "during_build_p50_ms"), 1)
    add("recall@10, unfiltered (all queries, batch)", lambda r: get(r, "batch", "recall10"), 3,
        "≥ 0.98", lambda q, a: a >= 0.98)
    add("recall@10, unfiltered (single queries)", lambda r: get(r, "single", "recall10"), 3)
    add("p50 single query, default include (ms)", lambda r: get(r, "single", "p50_ms"), 2,
        "ratio ≤ 0.5", lambda q, a: q is not None and q <= 0.5)
    add("p99 single query, default include (ms)", lambda r: get(r, "single", "p99_ms"), 2)
    add("batch throughput, include=distances (queries/s)", lambda r: get(r, "batch", "qps"), 0,
        "ratio ≥ 2", lambda q, a: q is not None and q >= 2)
    for i, f in enumerate(data.get("filters", [])):
        sel = f"{f['selectivity']:.1%}"
        add(f"recall@10, filter matching {sel}", lambda r, i=i: get(r, "filtered", i, "recall10"), 3,
            "≥ 0.99", lambda q, a: a >= 0.99)
        add(f"p50, filter matching {sel} (ms)", lambda r, i=i: get(r, "filtered", i, "p50_ms"), 2,
            "ratio ≤ 0.1", lambda q, a: q is not None and q <= 0.1)
        add(f"p99, filter matching {sel} (ms)", lambda r, i=i: get(r, "filtered", i, "p99_ms"), 2)
    add("peak RSS of the benchmark process (MB)", lambda r: get(r, "peak_rss_mb"), 0,
        "ratio ≤ 1", lambda q, a: q is not None and q <= 1)
    add("  of which the harness before the first add (MB)", lambda r: get(r, "rss_after_data_mb"), 0)
    add("peak RSS of the graph builder process (MB)", lambda r: get(r, "children_peak_rss_mb") or None, 0)
    add("size on disk, du (MB)", lambda r: None if get(r, "du_bytes") is None else get(r, "du_bytes") / 2 ** 20, 1,
        "ratio ≤ 1", lambda q, a: q is not None and q <= 1)
    add("cold start: new process, open, 1 query (s, median)", lambda r: get(r, "cold_start", "median_s"), 3,
        "< 0.5 s", lambda q, a: a < 0.5)

    m = report.get("machine", {})
    lines = [
        "# Search benchmark: chroma-frame vs chromadb vs exact numpy",
        "",
        f"`{report.get('command')}` — {report.get('date')}",
        "",
        f"Machine: {m.get('cpu', '?')}, {m.get('cpus')} CPUs ({m.get('affinity_cpus')} usable), {m.get('ram_gb')} GB RAM, "
        f"{m.get('platform')}, Python {m.get('python')}. Versions: "
        + ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items()) + ".",
        "",
        f"Load average (1/5/15 min) at start {report.get('load_start')}, at end {report.get('load_end')}; per system "
        + "; ".join(f"{s}: {get(r, 'load_start')} → {get(r, 'load_end')}" for s, r in res.items()) + ". "
        "The machine is shared: other jobs ran during this run.",
        "",
        f"chroma_frame sources (sha1 of chroma_frame/**/*.py): {report.get('sources_start')}"
        + ("" if report.get("sources_start") == report.get("sources_end")
           else f" at the start, **{report.get('sources_end')} at the end: the engine changed during the run**") + ".",
        "",
        f"Data: {data.get('corpus_rows'):,} records × {data.get('dimension')} dims, {data.get('queries')} queries; "
        f"ground truth {data.get('gt')}. Cosine space, `ef_search` 100 for both. Single-query and batch "
        "timings: best of the passes (each pass in the JSON); warm-up queries first. Filtered figures over "
        f"{get(cf, 'filtered', 0, 'queries') or get(cd, 'filtered', 0, 'queries')} queries each, default include. "
        "Ratio = chroma-frame / chromadb. `exact` returns the same fields from Python lists.",
        "",
        "| figure | chroma-frame | chromadb | exact numpy | ratio cf/chromadb | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        "Filters (chosen from the data): " + "; ".join(
            f"`{json.dumps(f['where'])}` matches {f['matching']:,} rows ({f['selectivity']:.2%})"
            for f in data.get("filters", [])) + ".",
        "",
    ]
    notes = []
    if get(cf, "queries_during_build"):
        samples = get(cf, "queries_during_build")
        notes.append("chroma-frame queries every 2 s while the graph builder ran (s after compact: ms, indexed rows): "
                     + ", ".join(f"{s['at_s']:.0f}: {s['latency_ms']:.0f} ({s['status']['indexed_rows']:,})"
                                 for s in samples[:12]) + (" …" if len(samples) > 12 else "") + ".")
    if get(cf, "status_after_add"):
        notes.append(f"chroma-frame index status right after the adds: {get(cf, 'status_after_add')}; "
                     f"after compact(): {get(cf, 'status_after_compact')}.")
    for s in SYSTEMS:
        cs = get(res.get(s), "cold_start")
        if cs:
            notes.append(f"Cold start {s}: first result at " + ", ".join(f"{r['first_result_s']:.3f}" for r in cs["runs"])
                         + " s (timed inside the process from before its imports; from the process's exec, "
                         "interpreter start-up included: "
                         + ", ".join(f"{r.get('since_exec_s', float('nan')):.2f}" for r in cs["runs"]) + " s).")
    runs = get(cf, "cold_start", "runs") or []
    if runs and "then_index_ready_s" in runs[0]:
        notes.append("chroma-frame's first query in a new process scans exactly; the graph is in use "
                     + ", ".join(f"{r['then_index_ready_s']:.2f}" for r in runs)
                     + " s after it (warm numba cache), then a query takes "
                     + ", ".join(f"{r['indexed_query_ms']:.2f}" for r in runs) + " ms.")
    e = report.get("cold_empty_numba_cache")
    if e:
        notes.append(f"With an empty numba cache (NUMBA_CACHE_DIR): first result at {e['first_result_s']:.3f} s, "
                     f"graph in use {e['then_index_ready_s']:.1f} s after it.")
    if get(cf, "children_peak_rss_mb"):
        notes.append("chroma-frame builds graphs in a separate process (its peak RSS is the builder row); "
                     "chromadb builds HNSW inside the process.")
    lines += [f"- {x}" for x in notes]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
