"""Texts per second: chroma-frame's default embedding function vs sentence-transformers, same run.

    python benchmarks/bench_embeddings.py [--docs 4000] [--rounds 3] [--out benchmarks/results/embeddings.json]

Documents are PyPI summaries from ``/work/shared/data/pypi_docs_50k.parquet`` (or ``--data``).
Rounds alternate between the two so background load hits both alike; the best round of each is
reported (median too). sentence-transformers (and torch) are benchmark-only dependencies; it runs
on the same model files, built as Transformer(max_seq_length=256) -> mean Pooling -> Normalize.
Agreement is checked too: cosine of our vectors with sentence-transformers' and with the
``embedding`` column of the data file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chroma_frame.embeddings import model_files  # noqa: E402
from chroma_frame.embeddings.minilm import usable_cores  # noqa: E402
from chroma_frame.utils.embedding_functions import DefaultEmbeddingFunction  # noqa: E402

DEFAULT_DATA = "/work/shared/data/pypi_docs_50k.parquet"


def load_docs(path: str, n: int, offset: int) -> tuple[List[str], np.ndarray]:
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["document", "embedding"]).slice(offset, n)
    docs = table.column("document").to_pylist()
    ref = np.asarray(table.column("embedding").to_pylist(), dtype=np.float32)
    return docs, ref


def sentence_transformers_encoder(folder: Path, threads: int) -> Callable[[List[str]], np.ndarray]:
    import torch
    from sentence_transformers import SentenceTransformer, models

    torch.set_num_threads(threads)
    transformer = models.Transformer(str(folder), max_seq_length=256)
    pooling = models.Pooling(transformer.get_word_embedding_dimension(), pooling_mode="mean")
    model = SentenceTransformer(modules=[transformer, pooling, models.Normalize()], device="cpu")
    return lambda texts: model.encode(texts, batch_size=32, convert_to_numpy=True, show_progress_bar=False)


def timed(fn: Callable[[List[str]], Any], docs: List[str]) -> tuple[float, float, Any]:
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn(docs)
    return len(docs) / (time.perf_counter() - wall), len(docs) / max(1e-9, time.process_time() - cpu), out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--docs", type=int, default=4000)
    parser.add_argument("--offset", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()

    docs, ref = load_docs(args.data, args.docs, args.offset)
    folder = model_files.ensure_model_files()
    threads = usable_cores()
    ours_ef = DefaultEmbeddingFunction()
    ours = lambda texts: np.stack(ours_ef(texts))  # noqa: E731
    ours(docs[:64])  # load the model (and build the graph once) outside the timing
    contenders: Dict[str, Callable[[List[str]], Any]] = {"chroma_frame_default": ours}
    try:
        st = sentence_transformers_encoder(folder, threads)
        st(docs[:64])
        contenders["sentence_transformers"] = st
    except ImportError as e:
        print(f"sentence-transformers unavailable ({e}); timing ours only", file=sys.stderr)

    wall: Dict[str, List[float]] = {k: [] for k in contenders}
    cpu: Dict[str, List[float]] = {k: [] for k in contenders}
    outputs: Dict[str, np.ndarray] = {}
    for r in range(args.rounds):
        for name, fn in contenders.items():
            w, c, out = timed(fn, docs)
            wall[name].append(w)
            cpu[name].append(c)
            outputs[name] = np.asarray(out, dtype=np.float32)
            print(f"round {r + 1} {name:22s} {w:8.1f} texts/s wall {c:8.1f} texts/cpu-s", file=sys.stderr)

    result: Dict[str, Any] = {
        "docs": len(docs),
        "data": os.path.basename(args.data),
        "threads": threads,
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}",
        "texts_per_s": {k: {"best": round(max(v), 1), "median": round(statistics.median(v), 1)} for k, v in wall.items()},
        "texts_per_cpu_s": {k: round(max(v), 1) for k, v in cpu.items()},
        "min_cosine_vs_data_file": float((outputs["chroma_frame_default"] * ref).sum(1).min()),
    }
    if "sentence_transformers" in contenders:
        a, b = outputs["chroma_frame_default"], outputs["sentence_transformers"]
        result["min_cosine_vs_sentence_transformers"] = float((a * b).sum(1).min())
        result["ratio_best"] = round(max(wall["chroma_frame_default"]) / max(wall["sentence_transformers"]), 2)
        result["ratio_median"] = round(statistics.median(wall["chroma_frame_default"])
                                       / statistics.median(wall["sentence_transformers"]), 2)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
