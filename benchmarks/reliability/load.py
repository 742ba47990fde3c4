"""Loopback load test of ``chroma-frame run``: mixed reads and writes from several client processes.

Each client process drives chromadb's official ``HttpClient`` in a bounded loop (70% query, 10% add,
10% upsert, 5% get with ``where``, 5% delete of its own records) against one server on 127.0.0.1;
a sampler reads the server's VmRSS from ``/proc`` every second. Prints throughput, p50 / p99
latency per call, errors, the RSS over time, and whether the final count equals what the clients
wrote. Everything (server, clients, index builders) is stopped at the end.

    .venv/bin/python benchmarks/reliability/load.py --seconds 180 --clients 4
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.reliability.workload import run_load  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seed-rows", type=int, default=5000, help="records in the collection before the load")
    parser.add_argument("--warmup", type=float, default=10, help="seconds left out of latencies; RSS baseline")
    parser.add_argument("--mix", default=None,
                        help="weights, e.g. query=70,add=10,upsert=10,get_where=5,delete=5 (the default)")
    parser.add_argument("--work", help="folder for the server's data (default: a temporary one, removed)")
    args = parser.parse_args()

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="load-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    next_print = [0.0]

    def progress(t: float, rss_kb: int) -> None:
        if t >= next_print[0]:
            print(f"  t={t:5.0f}s  server RSS {rss_kb / 1024:.0f} MB", flush=True)
            next_print[0] += max(10.0, args.seconds / 12)

    try:
        report = run_load(str(work), seconds=args.seconds, clients=args.clients, seed_rows=args.seed_rows,
                          warmup=args.warmup, progress=progress,
                          mix={k: int(v) for k, v in (p.split("=") for p in args.mix.split(","))} if args.mix else None)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    growth = report.rss_end_kb / max(report.rss_warm_kb, 1)
    print(f"\nload: {args.clients} clients x {args.seconds:.0f} s, {args.seed_rows} seed records, "
          f"warm-up {args.warmup:.0f} s (wall {time.monotonic() - started:.0f} s)\n")
    print(report.table())
    print(f"\nRSS end / after warm-up: {growth:.2f}x")
    for error in report.errors[:20]:
        print("ERROR", error)
    ok = not report.errors and report.final_count == report.expected_count and report.leftover_processes == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
