"""Corruption fuzz at scale: thousands of damaged files, each read back by a fresh process.

    python benchmarks/reliability/corruption_fuzz.py --flips 1000 [--seed 1] [--kinds log,blockfile]

Prints how many cases were tried, how many gave a clear error naming the damaged file, how many
gave exactly the undamaged answers, and the failures: crashes (a worker killed by a signal), hangs,
wrong answers, errors that are not a ChromaError naming the file, and derived files (graphs,
postings) that did not give the right answer. Every failure is listed with its file and damage.
See ``tests/reliability/corruption.py``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.reliability.corruption import KINDS, build_fixture, make_cases, run_cases, summary  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flips", type=int, default=1000, help="cases to run (one damaged file each)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated subset of {','.join(KINDS)}")
    parser.add_argument("--per-worker", type=int, default=100, help="cases per worker process")
    args = parser.parse_args()
    kinds = tuple(k for k in args.kinds.split(",") if k)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="corruption-fuzz-") as tmp:
        fixture = Path(tmp) / "fixture"
        build_fixture(fixture)
        cases = make_cases(fixture, args.flips, args.seed, kinds)
        run_cases(fixture, cases, Path(tmp) / "work", per_worker=args.per_worker)
    elapsed = time.monotonic() - started
    counts = summary(cases)
    labels = {"flips tried": "flips tried", "error": "clear errors", "right": "right answers",
              "crash": "crashes", "hang": "hangs", "wrong": "wrong answers", "unclear-error": "unclear errors",
              "derived not right": "derived files not right"}
    print(f"{'':24} {'all':>7} " + " ".join(f"{k[:10]:>10}" for k in kinds))
    for key, label in labels.items():
        per_kind = []
        for kind in kinds:
            of_kind = [c for c in cases if c.kind == kind]
            per_kind.append(len(of_kind) if key == "flips tried" else summary(of_kind)[key])
        print(f"{label:24} {counts[key]:>7} " + " ".join(f"{n:>10}" for n in per_kind))
    print(f"{'seconds':24} {elapsed:>7.1f}")
    failures = [c for c in cases if c.outcome not in ("right", "error")
                or (c.kind in ("graph", "postings") and c.outcome != "right")]
    for case in failures[:40]:
        print(f"  {case.outcome}: {case.kind} {case.file} {case.mutation}@{case.offset} {case.detail} "
              f"-> {case.message[:200]} {case.extra if case.outcome == 'wrong' else ''}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
