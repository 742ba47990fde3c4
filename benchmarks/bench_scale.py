"""Scale benchmark: chroma-frame, chromadb 1.5.9, LanceDB, DuckDB ``vss`` and FAISS HNSW on clustered data.

    python benchmarks/bench_scale.py --rows 100000[,1000000] [--systems chroma-frame,lancedb,...]
                                     [--reuse chromadb=OLD.json] [--data-dir DIR] [--out benchmarks/results]

The data is ``scale_data.ClusteredData(rows)`` (seeded; clusters of uneven size, 20 near-duplicates
per record), written once to ``DATA_DIR/clustered_<size>.parquet`` and read from there (streamed: a
10M file does not need to fit in memory). The 200 queries, their exact top 10 and the filtered exact
top 10 come from the same module. Each system runs in its own subprocess, one after the other, on
the same file, queries and filters; then cold starts (a new process opens the persisted data and
answers one query, timed from before its imports) follow each system's run. With several
sizes, every figure is also reported as a ratio larger / smaller size. Results: ``OUT/scale.md`` and
``OUT/scale.json`` (with the load average at the start and end of each system's run).

``--reuse chromadb=FILE.json`` takes chromadb's figures from an earlier ``scale.json`` (or from one
system's ``result_*.json``) for the same number of rows instead of running it again, and says so
with that run's date: its ``add`` in batches of 5,000 takes ~20 minutes at 1M rows.
"""

import time

_T0 = time.perf_counter()  # cold-start runs measure from here: before any heavy import

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

from report import fmt  # noqa: E402 - benchmarks/report.py (this script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
SYSTEMS = ("chroma-frame", "chromadb", "lancedb", "duckdb-vss", "faiss")
COLLECTION = "bench"
N_QUERIES = 200
K = 10
FILTERS = {  # name -> (Chroma where, SQL predicate, numpy predicate over (shard, year))
    "0.5%": ({"$and": [{"shard": 3}, {"year": {"$gte": 2016}}, {"year": {"$lte": 2019}}]},
             "shard = 3 AND year >= 2016 AND year <= 2019",
             lambda shard, year: (shard == 3) & (year >= 2016) & (year <= 2019)),
    "5%": ({"shard": 3}, "shard = 3", lambda shard, year: shard == 3),
}
GET_WHERE = ({"shard": 3}, "shard = 3")
FAISS_EF = (100, 200, 400)
PROJECTION = ["id", "document", "shard", "year", "category"]  # Chroma's default include, as columns


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def du_mb(path: Path) -> float:
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True).stdout.split()
    return int(out[0]) / 1024 if out else float("nan")


def pct(values: list, q: float = 50) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def size_label(rows: int) -> str:
    if rows % 1_000_000 == 0:
        return f"{rows // 1_000_000}m"
    return f"{rows // 1000}k" if rows % 1000 == 0 else str(rows)


def row_of(record_id: str) -> int:
    return int(record_id[1:])  # scale_data ids are "r<row>"


def recall(got_rows, truth) -> float:
    t = {int(x) for x in truth[:K] if x >= 0}
    return len(t.intersection(int(r) for r in got_rows[:K])) / len(t) if t else 1.0


class RssSampler:
    """Peak RSS of this process's descendants (chroma-frame's graph builders), sampled every 0.2 s."""

    def __init__(self) -> None:
        import psutil

        self.me, self.peak_mb, self._stop = psutil.Process(), 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.wait(0.2):
            for child in self.me.children(recursive=True):
                try:
                    self.peak_mb = max(self.peak_mb, child.memory_info().rss / 2**20)
                except psutil.Error:
                    pass

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_mb


# --------------------------------------------------------------------------------------------
# systems: each opens or creates its store at ``path``; ``query`` returns row numbers per query


class ChromaFrame:
    name = "chroma-frame"
    module = "chroma_frame"

    def __init__(self, path: Path, create: bool) -> None:
        client_module = __import__(self.module)
        self.client = client_module.PersistentClient(path=str(path))
        if create:
            self.col = self.client.create_collection(COLLECTION, embedding_function=None,
                                                     configuration={"hnsw": {"space": "cosine"}})
        else:
            self.col = self.client.get_collection(COLLECTION, embedding_function=None)

    def ingest(self, parquet: str) -> dict:
        self.col.ingest(parquet, progress=False)
        return {}

    def build_index(self, timeout: float) -> dict:
        """Until every part is searched through the index (``build_index()`` when the library has it)."""
        status = self.col.index_status()
        if hasattr(self.col, "build_index"):
            self.col.build_index()
            ready = self.col.wait_for_index(timeout)
        else:
            ready = self.col.wait_for_index(timeout)
        return {"status_after_ingest": status, "index_ready": bool(ready), "status_after": self.col.index_status()}

    def query(self, q, where=None, include=None) -> list[list[int]]:
        kwargs = {"query_embeddings": q, "n_results": K}
        if where is not None:
            kwargs["where"] = where
        if include is not None:
            kwargs["include"] = include
        return [[row_of(x) for x in ids] for ids in self.col.query(**kwargs)["ids"]]

    def get(self, where) -> int:
        return len(self.col.get(where=where, limit=10)["ids"])

    def close(self) -> None:
        pass


class Chromadb(ChromaFrame):
    name = "chromadb"
    module = "chromadb"

    def ingest(self, parquet: str) -> dict:
        """``add`` in batches of 5,000 (reading and converting the batches is not timed)."""
        import numpy as np
        import pyarrow.parquet as pq

        seconds = 0.0
        for rb in pq.ParquetFile(parquet, pre_buffer=False).iter_batches(batch_size=5000):
            d = rb.drop_columns(["embedding"]).to_pydict()
            emb = np.asarray(rb.column("embedding").values.to_numpy().reshape(rb.num_rows, -1))
            metas = [{"shard": s, "year": y, "category": c} for s, y, c in zip(d["shard"], d["year"], d["category"])]
            t = time.perf_counter()
            self.col.add(ids=d["id"], embeddings=emb, metadatas=metas, documents=d["document"])
            seconds += time.perf_counter() - t
        return {"ingest_timed_s": seconds}

    def build_index(self, timeout: float) -> dict:
        return {"note": "HNSW is built during add"}


class LanceDB:
    name = "lancedb"

    def __init__(self, path: Path, create: bool) -> None:
        import lancedb

        self.db = lancedb.connect(str(path))
        self.table = None if create else self.db.open_table(COLLECTION)

    def ingest(self, parquet: str) -> dict:
        import pyarrow.parquet as pq

        f = pq.ParquetFile(parquet, pre_buffer=False)  # pre-buffered row groups stay until close
        import pyarrow as pa

        reader = pa.RecordBatchReader.from_batches(f.schema_arrow, f.iter_batches(batch_size=65_536))
        self.table = self.db.create_table(COLLECTION, data=reader)
        return {}

    def build_index(self, timeout: float) -> dict:
        self.table.create_index(metric="cosine", vector_column_name="embedding", index_type="IVF_HNSW_SQ")
        return {"index": "IVF_HNSW_SQ, defaults"}

    def _search(self, q, where=None, include=None):
        s = self.table.search(q, vector_column_name="embedding").metric("cosine").limit(K)
        if where is not None:
            s = s.where(where, prefilter=True)
        return s.select((["id"] if include == ["distances"] else PROJECTION) + ["_distance"])

    def query(self, q, where=None, include=None) -> list[list[int]]:
        import numpy as np

        q = np.asarray(q, np.float32)
        if len(q) == 1:
            return [[row_of(x) for x in self._search(q[0], where, include).to_arrow().column("id").to_pylist()]]
        t = self._search(q, where, include).to_arrow()  # a batch: one search, rows tagged by query_index
        out = [[] for _ in range(len(q))]
        for qi, rid in zip(t.column("query_index").to_pylist(), t.column("id").to_pylist()):
            out[qi].append(row_of(rid))
        return out

    def get(self, where) -> int:
        return self.table.search().where(where).select(PROJECTION).limit(10).to_arrow().num_rows

    def close(self) -> None:
        pass


def _vss_extension() -> str:
    """The ``vss`` binary shipped by the duckdb-extension-vss wheel (loaded from disk, no network)."""
    import duckdb
    import duckdb_extension_vss

    return str(Path(duckdb_extension_vss.__file__).parent / "extensions" / f"v{duckdb.__version__}" / "vss.duckdb_extension")


class DuckVSS:
    name = "duckdb-vss"

    def __init__(self, path: Path, create: bool) -> None:
        import duckdb

        path.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(str(path / "bench.duckdb"))
        self.con.execute(f"LOAD '{_vss_extension()}'")
        self.con.execute("SET hnsw_enable_experimental_persistence = true")
        self.con.execute("SET enable_progress_bar = false")
        self.dim = None if create else self.con.execute(
            "SELECT array_length(embedding) FROM t LIMIT 1").fetchone()[0]

    def ingest(self, parquet: str) -> dict:
        import pyarrow.parquet as pq

        self.dim = pq.ParquetFile(parquet).schema_arrow.field("embedding").type.list_size
        self.con.execute(f"CREATE TABLE t AS SELECT id, CAST(embedding AS FLOAT[{self.dim}]) AS embedding, shard, year, "
                         f"category, document FROM read_parquet('{parquet}')")
        return {}

    def build_index(self, timeout: float) -> dict:
        self.con.execute("CREATE INDEX t_hnsw ON t USING HNSW (embedding) WITH (metric = 'cosine', ef_search = 100)")
        self.con.execute("CHECKPOINT")
        return {"index": "HNSW, metric cosine, M 16, ef_construction 128 (defaults), ef_search 100"}

    def _vec(self, v) -> str:
        return "[" + ",".join(f"{x:.7g}" for x in v) + f"]::FLOAT[{self.dim}]"

    def sql(self, v, where=None, include=None) -> str:
        cols = "id" if include == ["distances"] else ", ".join(PROJECTION)
        cond = f"WHERE {where} " if where else ""
        return (f"SELECT {cols}, array_cosine_distance(embedding, {self._vec(v)}) AS distance FROM t {cond}"
                f"ORDER BY distance LIMIT {K}")

    def query(self, q, where=None, include=None) -> list[list[int]]:
        import numpy as np

        q = np.asarray(q, np.float32)
        if len(q) == 1:
            return [[row_of(r[0]) for r in self.con.execute(self.sql(q[0], where, include)).fetchall()]]
        # a batch in one statement: a LATERAL top-k join, which vss plans as an HNSW index join
        import pyarrow as pa

        queries = pa.table({"qid": np.arange(len(q)),
                            "vec": pa.FixedSizeListArray.from_arrays(pa.array(q.reshape(-1)), q.shape[1])})
        self.con.register("queries_arrow", queries)
        rows = self.con.execute(self.BATCH.format(dim=self.dim, k=K)).fetchall()
        self.con.unregister("queries_arrow")
        return [[row_of(x) for x in ids] for _, ids in rows]

    BATCH = ("SELECT qid, list(id ORDER BY distance) FROM (SELECT q.qid, r.id, r.distance FROM queries_arrow q, "
             "LATERAL (SELECT id, array_cosine_distance(embedding, CAST(q.vec AS FLOAT[{dim}])) AS distance "
             "FROM t ORDER BY distance LIMIT {k}) r) GROUP BY qid ORDER BY qid")

    def plan(self, v, where=None) -> str:
        return "\n".join(r[1] for r in self.con.execute("EXPLAIN " + self.sql(v, where)).fetchall())

    def batch_plan(self, q) -> str:
        import pyarrow as pa

        self.con.register("queries_arrow", pa.table({"qid": [0], "vec": pa.FixedSizeListArray.from_arrays(
            pa.array(q[0]), q.shape[1])}))
        plan = "\n".join(r[1] for r in self.con.execute("EXPLAIN " + self.BATCH.format(dim=self.dim, k=K)).fetchall())
        self.con.unregister("queries_arrow")
        return plan

    def get(self, where) -> int:
        return len(self.con.execute(f"SELECT {', '.join(PROJECTION)} FROM t WHERE {where} LIMIT 10").fetchall())

    def close(self) -> None:
        self.con.close()


class Faiss:
    """HNSW (M=16, efConstruction=100) over the vectors; filters as an allowed-id bitmap of numpy masks."""

    name = "faiss"

    def __init__(self, path: Path, create: bool) -> None:
        import faiss

        self.faiss, self.path = faiss, path
        path.mkdir(parents=True, exist_ok=True)
        self.index = None if create else faiss.read_index(str(path / "hnsw.faiss"))
        self.ef = FAISS_EF[0]

    def ingest(self, parquet: str) -> dict:
        """Vectors into memory (the columns filters need too): what FAISS needs before a build."""
        import numpy as np
        import pyarrow.parquet as pq

        f = pq.ParquetFile(parquet, pre_buffer=False)  # pre-buffered row groups stay until close
        n, dim = f.metadata.num_rows, f.schema_arrow.field("embedding").type.list_size
        self.x = np.empty((n, dim), np.float32)
        self.shard, self.year = np.empty(n, np.int64), np.empty(n, np.int64)
        at = 0
        for rb in f.iter_batches(batch_size=65_536, columns=["embedding", "shard", "year"]):
            m = rb.num_rows
            self.x[at:at + m] = rb.column("embedding").values.to_numpy().reshape(m, dim)
            self.shard[at:at + m], self.year[at:at + m] = rb.column("shard").to_numpy(), rb.column("year").to_numpy()
            at += m
        return {}

    def build_index(self, timeout: float) -> dict:
        import numpy as np

        faiss = self.faiss
        self.index = faiss.IndexHNSWFlat(self.x.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = 100
        self.index.add(self.x)
        faiss.write_index(self.index, str(self.path / "hnsw.faiss"))
        np.save(self.path / "shard.npy", self.shard)
        np.save(self.path / "year.npy", self.year)
        return {"index": "IndexHNSWFlat inner product, M 16, efConstruction 100", "threads": faiss.omp_get_max_threads()}

    def query(self, q, where=None, include=None) -> list[list[int]]:
        import numpy as np

        faiss = self.faiss
        params = faiss.SearchParametersHNSW()
        params.efSearch = self.ef
        if where is not None:
            mask = where(self.shard, self.year)
            params.sel = faiss.IDSelectorBitmap(np.packbits(mask, bitorder="little"))
        _, rows = self.index.search(np.asarray(q, np.float32), K, params=params)
        return [[int(r) for r in row if r >= 0] for row in rows]

    def get(self, where) -> int:
        return min(10, int(where(self.shard, self.year).sum()))

    def close(self) -> None:
        pass


ADAPTERS = {"chroma-frame": ChromaFrame, "chromadb": Chromadb, "lancedb": LanceDB, "duckdb-vss": DuckVSS,
            "faiss": Faiss}


def filter_arg(system: str, name: str):
    where, sql, fn = FILTERS[name]
    return {"lancedb": sql, "duckdb-vss": sql, "faiss": fn}.get(system, where)


def get_arg(system: str):
    return {"lancedb": GET_WHERE[1], "duckdb-vss": GET_WHERE[1],
            "faiss": lambda shard, year: shard == 3}.get(system, GET_WHERE[0])


# --------------------------------------------------------------------------------------------
# children


def prepare(parquet: str, rows: int, work: Path) -> None:
    """Queries, exact top 10, filtered exact top 10 and the filters' selectivity, into ``work``."""
    import numpy as np
    import pyarrow.parquet as pq
    from scale_data import ClusteredData, exact_top_k

    done = work / "prepare.json"
    if done.exists() and json.loads(done.read_text()).get("rows") == rows:  # the data is seeded: same queries, truth
        log(f"reusing the queries and ground truth in {work}")
        return
    queries = ClusteredData(rows).queries(N_QUERIES)
    np.save(work / "queries.npy", queries)

    def batches():
        return pq.ParquetFile(parquet, pre_buffer=False).iter_batches(
            batch_size=65_536, columns=["embedding", "shard", "year"])

    np.save(work / "gt.npy", exact_top_k(batches(), queries, K))
    info = {"rows": rows, "queries": N_QUERIES, "filters": {}}
    for name, (where, sql, fn) in FILTERS.items():
        mask_of = lambda b: fn(b.column("shard").to_numpy(), b.column("year").to_numpy())  # noqa: E731
        matching = sum(int(mask_of(b).sum()) for b in pq.ParquetFile(parquet, pre_buffer=False).iter_batches(
            batch_size=65_536, columns=["shard", "year"]))
        np.save(work / f"gt_{name}.npy", exact_top_k(batches(), queries, K, mask_of=mask_of))
        info["filters"][name] = {"where": where, "sql": sql, "matching": matching, "selectivity": matching / rows}
        log(f"filter {name}: {json.dumps(where)} matches {matching:,} rows ({matching / rows:.2%})")
    (work / "prepare.json").write_text(json.dumps(info))


def timed(fn, *a, **kw):
    t = time.perf_counter()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t


def single_pass(adapter, queries, truth, where=None, include=None) -> dict:
    lat, rec = [], []
    for i, q in enumerate(queries):
        got, dt = timed(adapter.query, q[None, :], where=where, include=include)
        lat.append(dt)
        rec.append(recall(got[0], truth[i]))
    import numpy as np

    return {"p50_ms": pct(lat) * 1e3, "p99_ms": pct(lat, 99) * 1e3, "recall10": float(np.mean(rec))}


def run_child(system: str, parquet: str, work: Path, index_timeout: float) -> None:
    import numpy as np

    res = {"system": system, "load_start": loadavg(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    queries, gt = np.load(work / "queries.npy"), np.load(work / "gt.npy")
    info = json.loads((work / "prepare.json").read_text())
    res["rows"] = info["rows"]
    store = work / system
    shutil.rmtree(store, ignore_errors=True)
    adapter = ADAPTERS[system](store, create=True)

    log(f"{system}: ingest")
    extra, res["ingest_s"] = timed(adapter.ingest, parquet)
    res.update(extra)
    res["ingest_rows_per_s"] = info["rows"] / res["ingest_s"]
    log(f"{system}: ingest {res['ingest_s']:.1f} s; building the index")

    # index build, with a query a second issued meanwhile from another thread (chroma-frame, LanceDB)
    samples, stop = [], threading.Event()

    def sampler() -> None:
        i = 0
        while not stop.is_set():
            _, dt = timed(adapter.query, queries[i % len(queries)][None, :])
            samples.append(dt)
            i += 1
            stop.wait(1.0)  # a query a second: the sampler must not slow the build it watches

    thread = threading.Thread(target=sampler, daemon=True) if system in ("chroma-frame", "lancedb") else None
    rss = RssSampler()
    if thread:
        thread.start()
    extra, res["index_s"] = timed(adapter.build_index, index_timeout)
    stop.set()
    if thread:
        thread.join()
    import resource

    waited = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # builders this process waited for
    res["builder_peak_rss_mb"] = max(rss.stop(), waited) or None
    res.update(extra)
    if thread:
        res["during_build"] = {"queries": len(samples), "p50_ms": pct(samples) * 1e3 if samples else None}
    log(f"{system}: index {res['index_s']:.1f} s")

    for i in range(20):  # warm-up
        adapter.query(queries[i][None, :])
    if system == "faiss":
        res["by_ef"] = {}
        for ef in FAISS_EF:
            adapter.ef = ef
            res["by_ef"][ef] = single_pass(adapter, queries, gt)
        adapter.ef = FAISS_EF[0]
    res["single"] = single_pass(adapter, queries, gt)
    res["single_distances"] = single_pass(adapter, queries, gt, include=["distances"])
    log(f"{system}: single p50 {res['single']['p50_ms']:.2f} ms "
        f"({res['single_distances']['p50_ms']:.2f} ms distances only), recall {res['single']['recall10']:.3f}")

    res["filtered"] = {}
    for name in FILTERS:
        res["filtered"][name] = single_pass(adapter, queries, np.load(work / f"gt_{name}.npy"),
                                            where=filter_arg(system, name))
        log(f"{system}: filter {name}: p50 {res['filtered'][name]['p50_ms']:.2f} ms, "
            f"recall {res['filtered'][name]['recall10']:.3f}")
    if system == "duckdb-vss":
        res["plans"] = {"unfiltered": adapter.plan(queries[0]), "0.5%": adapter.plan(queries[0], FILTERS["0.5%"][1])}
        res["plans"]["batch"] = adapter.batch_plan(queries[:1])
        res["index_used"] = {k: "HNSW" in v for k, v in res["plans"].items()}

    n, first = timed(adapter.get, get_arg(system))
    after = [timed(adapter.get, get_arg(system))[1] for _ in range(5)]
    res["get"] = {"first_ms": first * 1e3, "after_ms": pct(after) * 1e3, "rows": n}

    passes = []
    for _ in range(2):
        got, dt = timed(adapter.query, queries, include=["distances"])
        passes.append({"qps": len(queries) / dt, "recall10": float(np.mean([recall(g, t) for g, t in zip(got, gt)]))})
    res["batch"] = max(passes, key=lambda p: p["qps"])
    log(f"{system}: batch {res['batch']['qps']:.0f} q/s")
    adapter.close()
    res["peak_rss_mb"] = peak_rss_mb()
    res["disk_mb"] = du_mb(store)
    res["load_end"] = loadavg()
    (work / f"result_{system}.json").write_text(json.dumps(res, indent=1, default=float))


def run_cold(system: str, work: Path) -> None:
    """A new process: open the persisted store, answer one query (default projection)."""
    import numpy as np

    q = np.load(work / "queries.npy")[:1]
    adapter = ADAPTERS[system](work / system, create=False)
    t_open = time.perf_counter() - _T0
    adapter.query(q)
    print(json.dumps({"open_s": t_open, "first_result_s": time.perf_counter() - _T0}))


# --------------------------------------------------------------------------------------------
# parent


def child(argv: list[str], timeout: float | None = None) -> tuple[int, float, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    t = time.perf_counter()
    p = subprocess.run([sys.executable, str(Path(__file__).resolve()), *argv], env=env, stdout=subprocess.PIPE,
                       text=True, timeout=timeout)
    return p.returncode, time.perf_counter() - t, p.stdout


def reused(spec: str, rows: int) -> dict | None:
    """chromadb's result for ``rows`` from an earlier ``scale.json`` or ``result_chromadb.json``."""
    data = json.loads(Path(spec).read_text())
    if "sizes" in data:
        data = data["sizes"].get(str(rows), {}).get("results", {}).get("chromadb")
    if not data or data.get("rows") != rows or "error" in data:
        return None
    return {**data, "reused_from": spec}


def run_size(rows: int, args, systems: list[str], reuse: dict, save) -> dict:
    from scale_data import ClusteredData

    parquet = Path(args.data_dir) / f"clustered_{size_label(rows)}.parquet"
    if not parquet.exists():
        log(f"writing {parquet}")
        parquet.parent.mkdir(parents=True, exist_ok=True)
        ClusteredData(rows).write_parquet(str(parquet))
    work = Path(args.work) / size_label(rows)
    work.mkdir(parents=True, exist_ok=True)
    code, wall, _ = child(["--prepare", str(parquet), "--rows", str(rows), "--work", str(work)])
    if code:
        raise SystemExit(f"preparing {rows} rows failed ({code})")
    out = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "load_start": loadavg(),
           "data": {**json.loads((work / "prepare.json").read_text()), "parquet": str(parquet),
                    "parquet_mb": parquet.stat().st_size / 2**20, "prepare_s": wall}, "results": {}}
    for system in systems:
        if system in reuse and (old := reused(reuse[system], rows)):
            log(f"--- {system}: reusing {reuse[system]} ({old.get('date')})")
            out["results"][system] = old
            continue
        log(f"--- {system} at {rows:,} rows (load {loadavg()})")
        code, wall, _ = child(["--child", system, str(parquet), "--work", str(work),
                               "--index-timeout", str(args.index_timeout)])
        result = work / f"result_{system}.json"
        out["results"][system] = json.loads(result.read_text()) if code == 0 and result.exists() else {
            "error": f"child exited with {code}", "load_end": loadavg()}
        out["results"][system]["child_wall_s"] = wall
        if "error" not in out["results"][system]:
            cold_start(system, work, args.cold_runs, out["results"][system])
        save(out)  # a partial report after every system: a long run that is stopped keeps what it measured
    return out


def cold_start(system: str, work: Path, runs: int, result: dict) -> None:
    """``runs`` new processes, one after the other, each opening the store and answering one query."""
    done = []
    for _ in range(runs):
        code, wall, stdout = child(["--cold", system, "--work", str(work)])
        if code == 0 and stdout.strip():
            done.append({**json.loads(stdout.strip().splitlines()[-1]), "process_wall_s": wall, "load": loadavg()})
    if done:
        result["cold_start"] = {"runs": done, "median_s": pct([r["first_result_s"] for r in done])}
        log(f"cold start {system}: {result['cold_start']['median_s']:.3f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="100000", help="comma-separated sizes, e.g. 100000,1000000")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--reuse", action="append", default=[], metavar="SYSTEM=FILE.json")
    parser.add_argument("--merge", default=None, metavar="FILE.json",
                        help="an earlier scale.json whose sizes not run now go into this report (growth ratios)")
    parser.add_argument("--data-dir", default=str(ROOT.parent / "scale"), help="where clustered_<size>.parquet live")
    parser.add_argument("--work", default=None, help="scratch directory for the stores (default: temporary, removed)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--index-timeout", type=float, default=3600.0)
    parser.add_argument("--child", nargs=2, metavar=("SYSTEM", "PARQUET"), help=argparse.SUPPRESS)
    parser.add_argument("--prepare", metavar="PARQUET", help=argparse.SUPPRESS)
    parser.add_argument("--cold", metavar="SYSTEM", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        prepare(args.prepare, int(args.rows), Path(args.work))
        return 0
    if args.child:
        run_child(args.child[0], args.child[1], Path(args.work), args.index_timeout)
        return 0
    if args.cold:
        run_cold(args.cold, Path(args.work))
        return 0

    systems = [s for s in args.systems.split(",") if s]
    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown systems {sorted(unknown)}; choose from {', '.join(SYSTEMS)}")
    reuse = dict(spec.split("=", 1) for spec in args.reuse)
    sizes = sorted(int(r) for r in args.rows.split(","))
    keep = args.work is not None
    args.work = args.work or tempfile.mkdtemp(prefix="bench_scale_", dir=args.data_dir)
    report = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": " ".join(["python", *sys.argv]),
              "machine": machine(), "load_start": loadavg(), "sizes": {}}
    if args.merge:
        earlier = json.loads(Path(args.merge).read_text())
        report["sizes"] = {k: {**v, "merged_from": f"{args.merge} (run of {v.get('date', earlier['date'])})"}
                           for k, v in earlier["sizes"].items() if int(k) not in sizes}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def save(size_report: dict | None = None, rows: int = 0) -> None:
        if size_report is not None:
            report["sizes"][str(rows)] = size_report
        report["load_end"] = loadavg()
        (out / "scale.json").write_text(json.dumps(report, indent=1, default=float))
        (out / "scale.md").write_text(markdown(report))

    try:
        for rows in sizes:
            save(run_size(rows, args, systems, reuse, lambda part, rows=rows: save(part, rows)), rows)
    finally:
        if not keep:
            shutil.rmtree(args.work, ignore_errors=True)
    print((out / "scale.md").read_text())
    return 0


def machine() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for pkg in ("chromadb", "lancedb", "duckdb", "duckdb-extension-vss", "faiss-cpu", "numpy", "pyarrow", "pynndescent"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    git = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    versions["chroma-frame (git)"] = git.stdout.strip()
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return {"cpu": cpu, "cpus": os.cpu_count(), "versions": versions}


# --------------------------------------------------------------------------------------------
# report


def _get(r, *path):
    for p in path:
        r = r.get(p) if isinstance(r, dict) else None
    return r


FIGURES = [  # (label, path into a system's result, digits)
    ("ingest from Parquet (s)", ("ingest_s",), 1),
    ("ingest rows/s", ("ingest_rows_per_s",), 0),
    ("time until every part is searched through the index (s)", ("index_s",), 1),
    ("builder peak RSS (MB)", ("builder_peak_rss_mb",), 0),
    ("p50 of queries during the build (ms)", ("during_build", "p50_ms"), 1),
    ("single query p50, default include (ms)", ("single", "p50_ms"), 2),
    ("single query p50, distances only (ms)", ("single_distances", "p50_ms"), 2),
    ("recall@10", ("single", "recall10"), 3),
    ("0.5% filter: p50 (ms)", ("filtered", "0.5%", "p50_ms"), 2),
    ("0.5% filter: recall@10", ("filtered", "0.5%", "recall10"), 3),
    ("5% filter: p50 (ms)", ("filtered", "5%", "p50_ms"), 2),
    ("5% filter: recall@10", ("filtered", "5%", "recall10"), 3),
    ("get(where shard=3, limit=10): first call (ms)", ("get", "first_ms"), 2),
    ("get(where shard=3, limit=10): after (ms, p50 of 5)", ("get", "after_ms"), 2),
    ("cold start: new process, open, first query (s, median)", ("cold_start", "median_s"), 3),
    ("batch throughput, 200 queries in one call (q/s)", ("batch", "qps"), 0),
    ("batch recall@10", ("batch", "recall10"), 3),
    ("peak RSS (MB)", ("peak_rss_mb",), 0),
    ("size on disk (MB)", ("disk_mb",), 0),
]


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = ["# Scale benchmark: chroma-frame, chromadb, LanceDB, DuckDB vss, FAISS HNSW", "",
             f"`{report['command']}` — {report['date']}", "",
             f"Machine: {m['cpu']}, {m['cpus']} CPUs, shared with other work. Versions: "
             + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".", "",
             f"Load average (1/5/15 min) at start {report['load_start']}, at end {report['load_end']}.", ""]
    sizes = sorted(report["sizes"], key=int)
    for size in sizes:
        block = report["sizes"][size]
        res, data = block["results"], block["data"]
        systems = list(res)
        lines += [f"## {int(size):,} rows × 384 (clustered, 20 near-duplicates per record), {data['queries']} queries, cosine",
                  "", "Filters (named as in issue 13; the selectivity is measured on this data): " + "; ".join(
                      f"\"{name}\" `{json.dumps(f['where'])}` (`{f['sql']}`) matches {f['matching']:,} rows ({f['selectivity']:.2%})"
                      for name, f in data["filters"].items()) + ".", "",
                  *([f"This size's figures come from {block['merged_from']}.", ""] if "merged_from" in block else []),
                  *([f"Run of {block['date']}; load average at its start {block.get('load_start')}.", ""]
                    if "date" in block and "merged_from" not in block else []),
                  "| figure | " + " | ".join(systems) + " |", "| --- |" + " --- |" * len(systems)]
        for label, path, digits in FIGURES:
            if path[0] == "filtered":
                label += f" ({data['filters'][path[1]]['selectivity']:.2%} of rows)"
            lines.append(f"| {label} | " + " | ".join(fmt(_get(res[s], *path), digits) for s in systems) + " |")
        lines += ["", "Per system: load average at start → end of its run; notes."]
        for s in systems:
            r = res[s]
            note = [f"load {r.get('load_start')} → {r.get('load_end')}"]
            if "error" in r:
                note.append(f"**{r['error']}**")
            if "reused_from" in r:
                note.append(f"figures reused from {r['reused_from']} (run of {r.get('date')})")
            if r.get("by_ef"):
                note.append("efSearch " + ", ".join(f"{ef}: p50 {v['p50_ms']:.2f} ms, recall {v['recall10']:.3f}"
                                                    for ef, v in r["by_ef"].items()))
            if r.get("index_used"):
                note.append("HNSW index scan in the plan: " + ", ".join(f"{k} {v}" for k, v in r["index_used"].items()))
            if r.get("status_after_ingest"):
                note.append(f"index status after ingest {r['status_after_ingest']}")
            if r.get("during_build"):
                note.append(f"{r['during_build']['queries']} queries during the build")
            if r.get("index"):
                note.append(r["index"])
            lines.append(f"- {s}: " + "; ".join(note) + ".")
        lines.append("")
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        systems = [s for s in report["sizes"][large]["results"] if s in report["sizes"][small]["results"]]
        lines += [f"## Growth: figure at {int(large):,} / figure at {int(small):,} rows "
                  f"(×{int(large) / int(small):.0f} rows; 1.0 = does not grow)", "",
                  "| figure | " + " | ".join(systems) + " |", "| --- |" + " --- |" * len(systems)]
        for label, path, _ in FIGURES:
            cells = []
            for s in systems:
                a = _get(report["sizes"][small]["results"][s], *path)
                b = _get(report["sizes"][large]["results"][s], *path)
                cells.append(f"{b / a:.2f}" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a else "—")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
