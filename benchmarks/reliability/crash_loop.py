"""Crash loop: SIGKILL a writing process hundreds of times and check the collection after each kill.

A child process runs seeded random adds / upserts / updates / deletes / compactions / queries (which
start index builders) on one collection, and creates and deletes other collections; the parent kills it after a random delay, reopens the
collection with a fresh client and checks it against a model of the acknowledged writes (see
``tests/reliability/workload.py``). With probability ``--builder-kill-prob`` the index builders die
with the writer (a machine crash); otherwise they live on (a process crash) and may finish graphs
while later writers compact, so that graphs get checked too. No process is left running.

    .venv/bin/python benchmarks/reliability/crash_loop.py --kills 300 [--seed 1] [--max-delay 1.0]
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

from tests.reliability.workload import LoopStats, run_crash_loop  # noqa: E402


def table(stats: LoopStats, seconds: float, args: argparse.Namespace) -> str:
    rows = [
        ("kills", stats.kills),
        ("acknowledged writes checked (incl. collection create/delete)", stats.acked_writes),
        ("records compared with the model", stats.records_checked),
        ("in-flight op found applied (whole)", stats.inflight_applied),
        ("in-flight op found absent", stats.inflight_dropped),
        ("lost (must be 0)", stats.lost),
        ("torn (must be 0)", stats.torn),
        ("unacknowledged visible (must be 0)", stats.phantom),
        ("reopen failures (must be 0)", stats.reopen_failures),
        ("other failures: order, query, graph, child error (must be 0)", stats.other_failures),
        ("graph files checked against their blockfiles", stats.graphs_checked),
        ("index builders killed", stats.builders_killed),
        ("processes left running (must be 0)", stats.leftover_processes),
        ("wall time (s)", f"{seconds:.0f}"),
    ]
    width = max(len(r[0]) for r in rows)
    head = (f"crash loop: seed {args.seed}, kill delay U({args.min_delay}, {args.max_delay}) s, "
            f"builders killed with the writer p={args.builder_kill_prob}")
    return "\n".join([head, "", f"| {'figure':<{width}} | value |", f"|{'-' * (width + 2)}|-------|"]
                     + [f"| {name:<{width}} | {value} |" for name, value in rows])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--min-delay", type=float, default=0.003)
    parser.add_argument("--max-delay", type=float, default=1.0)
    parser.add_argument("--builder-kill-prob", type=float, default=0.02,
                        help="chance that a kill takes the index builders down too (default 0.02)")
    parser.add_argument("--work", help="folder for the collection (default: a temporary one, removed)")
    parser.add_argument("--stop-on-failure", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="crash-loop-"))
    started = time.monotonic()

    def progress(cycle: int, stats: LoopStats) -> None:
        if not args.quiet and (cycle + 1) % 10 == 0:
            print(f"  {cycle + 1} kills, {stats.acked_writes} acknowledged writes, {stats.graphs_checked} graphs, "
                  f"{len(stats.failures)} failures, {time.monotonic() - started:.0f}s", flush=True)

    try:
        stats = run_crash_loop(str(work / "data"), kills=args.kills, seed=args.seed, min_delay=args.min_delay,
                               max_delay=args.max_delay, builder_kill_prob=args.builder_kill_prob,
                               stop_on_failure=args.stop_on_failure, progress=progress)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print(table(stats, time.monotonic() - started, args))
    for failure in stats.failures[:20]:
        print("FAILURE", failure)
    return 0 if stats.ok else 1


if __name__ == "__main__":
    sys.exit(main())
