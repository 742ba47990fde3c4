"""BM25 full-text search: chroma-frame's Arrow postings vs DuckDB's ``fts`` extension, same tokens.

    .venv/bin/python benchmarks/bench_fulltext.py --duckdb-python /tmp/fts-venv/bin/python \
        [--docs PATH] [--queries N] [--k 10] [--out benchmarks/results/fulltext.md]

Both sides index the same tokens: Chroma's BM25 embedding function's tokenizer (stopwords removed,
Snowball-stemmed). chroma-frame gets the function's sparse vectors in a metadata key; DuckDB gets
the tokens joined by spaces and indexes them with ``stemmer='none', stopwords='none',
ignore='\\s+', lower=0, strip_accents=0`` (so it splits on spaces only).

DuckDB's ``fts`` wheel is built for one DuckDB version and refuses any other (``duckdb-extension-fts``
1.5.5 needs ``duckdb==1.5.5``; the project runs 1.5.6), so the DuckDB side runs in a child process of
another interpreter, prepared with::

    python3 -m venv /tmp/fts-venv && /tmp/fts-venv/bin/pip install duckdb==1.5.5 \
        duckdb-extension-fts==1.5.5 pyarrow numpy

Without ``--duckdb-python`` only chroma-frame is measured.

Measured: index build time (chroma-frame: extracting the vectors from the blockfile, inverting,
writing the Arrow file; DuckDB: ``PRAGMA create_fts_index`` on a table already in DuckDB), the time
to open a stored index, single-query latency (p50 / p95 over the queries, top-k, BM25 IDF at query
time), and the overlap of the two top-k lists. Overlap is measured twice: with the embedding
function's default ``avg_doc_length=256`` (what Chroma does) and with the corpus' real mean token
count (what DuckDB's BM25 uses), where both compute the same formula.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
KEY = "bm25"


# -- the DuckDB child (runs under --duckdb-python; needs duckdb, its fts wheel, pyarrow) ----------

def duckdb_child(tokens_path: str, k: int) -> dict:
    import glob

    import duckdb
    import duckdb_extension_fts
    import pyarrow as pa
    import pyarrow.compute as pc

    ext = glob.glob(os.path.join(os.path.dirname(duckdb_extension_fts.__file__), "extensions", "*", "fts.duckdb_extension"))[0]
    with pa.memory_map(tokens_path) as source:
        tables = pa.ipc.open_file(source).read_all()
    queries = tables.filter(pc.equal(tables.column("kind"), "query")).column("text").to_pylist()
    con = duckdb.connect()
    con.register("doc_rows", tables.filter(pc.equal(tables.column("kind"), "doc")).select(["pos", "text"]))
    con.load_extension(ext)
    con.execute("CREATE TABLE docs AS SELECT pos::INTEGER AS id, text FROM doc_rows")
    start = time.perf_counter()
    con.execute("PRAGMA create_fts_index('docs', 'id', 'text', stemmer='none', stopwords='none', "
                "ignore='\\s+', strip_accents=0, lower=0)")
    build = time.perf_counter() - start
    sql = ("SELECT id, score FROM (SELECT id, fts_main_docs.match_bm25(id, $q) AS score FROM docs) "
           "WHERE score IS NOT NULL ORDER BY score DESC, id LIMIT $k")
    con.execute(sql, {"q": queries[0], "k": k}).fetchall()  # warm-up
    latencies, results = [], []
    for q in queries:
        start = time.perf_counter()
        rows = con.execute(sql, {"q": q, "k": k}).fetchall()
        latencies.append(time.perf_counter() - start)
        results.append(rows)
    wide = [con.execute(sql, {"q": q, "k": 5 * k}).fetchall() for q in queries]  # for ties at the boundary
    return {"duckdb": duckdb.__version__, "threads": con.execute("SELECT current_setting('threads')").fetchone()[0],
            "build_s": build, "latencies": latencies, "results": results, "wide": wide}


# -- chroma-frame ---------------------------------------------------------------------------------

def bm25_function(**kwargs):
    try:
        from chroma_frame.utils.embedding_functions import ChromaBm25EmbeddingFunction
    except ImportError:
        from chromadb.utils.embedding_functions import ChromaBm25EmbeddingFunction
    return ChromaBm25EmbeddingFunction(**kwargs)


def tokenizer():
    """The tokenizer of the BM25 function (stopwords out, Snowball stems, at most 40 characters)."""
    try:
        from chroma_frame.embeddings.bm25_tokenizer import DEFAULT_CHROMA_BM25_STOPWORDS, Bm25Tokenizer

        return Bm25Tokenizer(DEFAULT_CHROMA_BM25_STOPWORDS, 40)
    except ImportError:
        from chromadb.utils.embedding_functions.schemas.bm25_tokenizer import (
            DEFAULT_CHROMA_BM25_STOPWORDS,
            Bm25Tokenizer,
            get_english_stemmer,
        )

        return Bm25Tokenizer(get_english_stemmer(), DEFAULT_CHROMA_BM25_STOPWORDS, 40)


def wire(vector) -> dict:
    return {"#type": "sparse_vector", "indices": [int(i) for i in vector.indices],
            "values": [float(v) for v in vector.values]}


def frame_side(ids, embeddings, vectors, query_vectors, k: int, workdir: str) -> dict:
    import numpy as np

    import chroma_frame
    from chroma_frame.engine.sparse_knn import sparse_knn
    from chroma_frame.sparse.files import load_postings, save_postings
    from chroma_frame.sparse.postings import build_postings
    from chroma_frame.sparse.provider import SparseIndexes

    client = chroma_frame.PersistentClient(path=workdir)
    collection = client.create_collection("fulltext", configuration={"hnsw": {"space": "cosine"}})
    collection._store.index.auto_build = False
    start = time.perf_counter()
    for lo in range(0, len(ids), 5000):
        collection.add(ids=ids[lo:lo + 5000], embeddings=embeddings[lo:lo + 5000],
                       metadatas=[{KEY: wire(v)} for v in vectors[lo:lo + 5000]])
    collection.compact()
    add_s = time.perf_counter() - start
    store = collection._store
    snap = store.snapshot()
    (seg,) = snap.base
    out: dict = {"add_s": add_s, "rows": seg.table.num_rows}
    start = time.perf_counter()
    rows = seg.sparse_rows(KEY)
    out["extract_s"] = time.perf_counter() - start
    start = time.perf_counter()
    postings = build_postings(rows)
    out["invert_s"] = time.perf_counter() - start
    start = time.perf_counter()
    save_postings(store.storage, store.prefix, seg.name, KEY, postings)
    out["write_s"] = time.perf_counter() - start
    out["postings"] = len(postings.rows)
    out["dims"] = len(postings.dims)
    path = store.storage.path(f"{store.prefix}/blocks")
    out["file_mb"] = sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path) if ".sparse." in f) / 2**20
    start = time.perf_counter()
    load_postings(store.storage, store.prefix, seg.name, KEY, n_rows=seg.table.num_rows)
    out["load_s"] = time.perf_counter() - start
    provider = SparseIndexes(store.storage, store.prefix)
    provider.postings(seg, KEY)

    def run(index, candidates=None):
        sparse_knn(snap, KEY, query_vectors[0], k, candidates, True, index)  # warm-up
        latencies, results = [], []
        for q in query_vectors:
            start = time.perf_counter()
            positions, scores = sparse_knn(snap, KEY, q, k, candidates, True, index)
            latencies.append(time.perf_counter() - start)
            results.append(list(zip(positions.tolist(), scores.tolist())))
        return latencies, results

    out["latencies"], out["results"] = run(provider)
    out["scan_latencies"], _ = run(None)  # no postings: every entry of the segment scanned
    rng = np.random.default_rng(0)
    tenth = np.sort(rng.choice(len(ids), len(ids) // 10, replace=False))
    out["filtered_latencies"], _ = run(provider, tenth)

    tail = client.create_collection("fulltext-log", configuration={"hnsw": {"space": "cosine"}})
    tail._store.compaction_threshold_rows = 10**9  # every row stays in the log: scored from its rows
    for lo in range(0, len(ids), 5000):
        tail.add(ids=ids[lo:lo + 5000], embeddings=embeddings[lo:lo + 5000],
                 metadatas=[{KEY: wire(v)} for v in vectors[lo:lo + 5000]])
    snap = tail._store.snapshot()
    start = time.perf_counter()
    sparse_knn(snap, KEY, query_vectors[0], k, None, True, tail._store.sparse_index)
    out["tail_first_s"] = time.perf_counter() - start  # includes extracting the vectors of the log rows
    out["tail_latencies"], _ = run(tail._store.sparse_index)
    return out


def overlap(ours: list, theirs: list, k: int) -> float:
    """Mean |top-k ∩ top-k'| / min(k, |top-k'|) over the queries with a DuckDB result."""
    values = []
    for a, b in zip(ours, theirs):
        if b:
            values.append(len({p for p, _ in a} & {i for i, _ in b[:k]}) / min(k, len(b[:k])))
    return statistics.mean(values) if values else float("nan")


def tie_overlap(ours: list, wide: list, k: int) -> float:
    """Like :func:`overlap`, counting as shared a record that ties (1e-6) with DuckDB's k-th score."""
    values = []
    for a, b in zip(ours, wide):
        if b:
            kth = b[min(k, len(b)) - 1][1]
            tied = {i for i, score in b if score >= kth - 1e-6 * abs(kth)}
            values.append(min(1.0, len({p for p, _ in a} & tied) / min(k, len(b))))
    return statistics.mean(values) if values else float("nan")


def _distinct(ours: list, theirs: list, repeated: set) -> tuple[list, list]:
    keep = [i for i in range(len(ours)) if i not in repeated]
    return [ours[i] for i in keep], [theirs[i] for i in keep]


def ms(values) -> str:
    values = sorted(values)
    return f"{statistics.median(values) * 1e3:.2f} / {values[int(0.95 * (len(values) - 1))] * 1e3:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", default=str(DATA / "pypi_docs_50k.parquet"))
    parser.add_argument("--query-file", default=str(DATA / "pypi_queries_1k.parquet"))
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--duckdb-python")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "fulltext.md"))
    parser.add_argument("--duckdb-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.duckdb_child:
        print(json.dumps(duckdb_child(args.duckdb_child[0], int(args.duckdb_child[1]))))
        return 0

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    load_before = os.getloadavg()[0]
    table = pq.read_table(args.docs, columns=["id", "document", "embedding"])
    ids = table.column("id").to_pylist()
    docs = table.column("document").to_pylist()
    embeddings = np.asarray(table.column("embedding").combine_chunks().values.to_numpy()).reshape(len(ids), -1)
    queries = pq.read_table(args.query_file, columns=["document"]).column("document").to_pylist()[: args.queries]

    tok = tokenizer()
    doc_tokens = [tok.tokenize(d) for d in docs]
    query_tokens = [tok.tokenize(q) for q in queries]
    mean_len = statistics.mean(len(t) for t in doc_tokens)
    configs = {"default": bm25_function(), "corpus_avgdl": bm25_function(avg_doc_length=mean_len)}
    repeated = {i for i, t in enumerate(query_tokens) if len(set(t)) != len(t)}
    ours = {}
    for name, ef in configs.items():
        start = time.perf_counter()
        vectors = ef(docs)
        embed_s = time.perf_counter() - start
        query_vectors = [wire(v) for v in ef.embed_query(queries)]
        with tempfile.TemporaryDirectory() as workdir:
            ours[name] = frame_side(ids, embeddings, vectors, query_vectors, args.k, workdir)
        ours[name]["embed_s"] = embed_s
        print(name, {k: v for k, v in ours[name].items() if not isinstance(v, list)}, file=sys.stderr)

    theirs = None
    if args.duckdb_python:
        with tempfile.TemporaryDirectory() as workdir:
            path = os.path.join(workdir, "tokens.arrow")
            texts = [" ".join(t) for t in doc_tokens] + [" ".join(t) for t in query_tokens]
            kinds = ["doc"] * len(doc_tokens) + ["query"] * len(query_tokens)
            rowids = list(range(len(doc_tokens))) + [-1] * len(query_tokens)
            with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, pa.schema([("pos", pa.int64()), ("kind", pa.string()), ("text", pa.string())])) as w:
                w.write_table(pa.table({"pos": rowids, "kind": kinds, "text": texts}))
            child = subprocess.run([args.duckdb_python, __file__, "--duckdb-child", path, str(args.k)],
                                   capture_output=True, text=True, check=True)
            theirs = json.loads(child.stdout)
    load_after = os.getloadavg()[0]
    write_report(args, ours, theirs, mean_len, repeated, len(ids), load_before, load_after)
    return 0


def write_report(args, ours, theirs, mean_len, repeated, n_docs, load_before, load_after) -> None:
    d = ours["default"]
    lines = [
        "# Full-text (BM25) benchmark: Arrow postings vs DuckDB fts",
        "",
        f"`benchmarks/bench_fulltext.py`, {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {load_before:.1f} before / {load_after:.1f} after "
        "(a shared machine: absolute times are noisy).",
        "",
        "```bash",
        "python3 -m venv /tmp/fts-venv && /tmp/fts-venv/bin/pip install duckdb==1.5.5 duckdb-extension-fts==1.5.5 pyarrow numpy",
        f".venv/bin/python benchmarks/bench_fulltext.py --duckdb-python /tmp/fts-venv/bin/python --queries {args.queries} --k {args.k}",
        "```",
        "",
        f"Corpus: {n_docs:,} PyPI summaries (`{Path(args.docs).name}`); {args.queries} queries (other packages' "
        f"summaries, `{Path(args.query_file).name}`), top-{args.k}, BM25 with IDF at query time. Tokens: Chroma's "
        f"BM25 tokenizer for both (mean {mean_len:.2f} tokens per document). The embedding function "
        f"itself (Python) took {d['embed_s']:.1f} s for the corpus, outside every figure below. chroma-frame: {d['postings']:,} postings over {d['dims']:,} dimensions, "
        f"file {d['file_mb']:.1f} MB.",
        "",
        "| | chroma-frame (Arrow postings) | DuckDB fts |",
        "| --- | ---: | ---: |",
    ]
    t = theirs
    build = d["extract_s"] + d["invert_s"] + d["write_s"]
    lines += [
        f"| build the index | {build * 1e3:.0f} ms (extract {d['extract_s'] * 1e3:.0f} + invert {d['invert_s'] * 1e3:.0f} "
        f"+ write {d['write_s'] * 1e3:.0f}) | {t['build_s'] * 1e3:.0f} ms |" if t else
        f"| build the index | {build * 1e3:.0f} ms | - |",
        f"| open a stored index | {d['load_s'] * 1e3:.1f} ms (memory-mapped, validated) | - (in the database) |",
        f"| query p50 / p95 (ms) | {ms(d['latencies'])} | {ms(t['latencies']) if t else '-'} |",
        f"| query p50 / p95 (ms), no postings: scan every entry | {ms(d['scan_latencies'])} | |",
        f"| query p50 / p95 (ms), filter keeps 10% of rows | {ms(d['filtered_latencies'])} | |",
        f"| query p50 / p95 (ms), all rows in the log (no blockfile; first query {d['tail_first_s'] * 1e3:.0f} ms) "
        f"| {ms(d['tail_latencies'])} | |",
    ]
    if t:
        lines += [
            "",
            f"DuckDB {t['duckdb']} ({t['threads']} threads); chroma-frame scores on one thread (numpy).",
            "",
            "Overlap of the top-10 lists (mean over queries with a DuckDB result):",
            "",
            f"- embedding function with `avg_doc_length={mean_len:.2f}` (the corpus mean, as DuckDB): "
            f"**{overlap(ours['corpus_avgdl']['results'], t['results'], args.k):.3f}**; counting records tied with "
            f"DuckDB's {args.k}th score as shared: **{tie_overlap(ours['corpus_avgdl']['results'], t['wide'], args.k):.3f}**",
            f"- embedding function defaults (`avg_doc_length=256`, what Chroma does): "
            f"**{overlap(d['results'], t['results'], args.k):.3f}** (ties counted: "
            f"{tie_overlap(d['results'], t['wide'], args.k):.3f})",
            "",
            f"{len(repeated)} of the {args.queries} queries repeat a token: Chroma's query vector weighs a repeated "
            "token by its saturated count, DuckDB counts each distinct query token once. Over the other "
            f"{args.queries - len(repeated)} queries, with the corpus mean: **"
            f"{overlap(*_distinct(ours['corpus_avgdl']['results'], t['results'], repeated), args.k):.3f}** "
            f"(ties counted: {tie_overlap(*_distinct(ours['corpus_avgdl']['results'], t['wide'], repeated), args.k):.3f}).",
        ]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
