"""Load: a real ``chroma-frame run`` on loopback, several processes of chromadb's ``HttpClient``
sending mixed reads and writes for a few seconds: no errors, no lost writes, flat memory.

The long run is ``benchmarks/reliability/load.py``.
"""

from __future__ import annotations

import pytest

pytest.importorskip("chromadb")

from tests.reliability.workload import run_load  # noqa: E402


def test_mixed_load_has_no_errors_and_flat_memory(tmp_path):
    report = run_load(str(tmp_path), seconds=5, clients=3, seed_rows=1000, warmup=1.0)
    summary = report.table() + "\n" + "\n".join(report.errors[:10])
    assert report.errors == [], summary
    assert report.ops > 50, summary  # the clients did get through (on a loaded 2-core machine too)
    assert report.final_count == report.expected_count, summary  # every acknowledged add and delete
    assert report.leftover_processes == 0, summary
    # Memory: bounded growth after warm-up (tolerant: allocator noise and caches of a 5 s run)
    assert report.rss_end_kb <= 1.5 * report.rss_warm_kb, summary
