"""Crash loop: a writer process SIGKILLed at random points, then the collection checked against a model.

After each kill: every acknowledged write is there with its content, nothing unacknowledged is
visible (the operation in flight is all or nothing), ``get`` order, ``count`` and exact top-k
queries agree with the model, graph files match their blockfiles, and the collection takes a write.
Index builders are killed with the writer (a machine crash) and none survives the test. The long
run is ``benchmarks/reliability/crash_loop.py``.
"""

from __future__ import annotations

import random

import numpy as np

import chroma_frame
from tests.reliability.workload import (
    _is_zombie,
    _state_of,
    apply_op,
    builder_pids,
    open_collection,
    read_journal,
    run_crash_loop,
    run_op,
    verify,
)

SEED = 20261206


def _report(stats) -> str:
    return (f"seed {SEED}: {stats.kills} kills, {stats.acked_writes} acknowledged writes, lost {stats.lost}, "
            f"torn {stats.torn}, phantom {stats.phantom}, reopen failures {stats.reopen_failures}, "
            f"other {stats.other_failures}, leftover processes {stats.leftover_processes}\n"
            + "\n".join(stats.failures[:5])
            + "\nreproduce: .venv/bin/python benchmarks/reliability/crash_loop.py --kills 12 "
              f"--seed {SEED} --max-delay 0.5")


def test_killed_writer_loses_nothing_acknowledged_and_shows_nothing_half_done(tmp_path):
    path = str(tmp_path / "data")
    stats = run_crash_loop(path, kills=12, seed=SEED, max_delay=0.5, builder_kill_prob=1.0)
    assert stats.ok, _report(stats)
    assert stats.kills == 12
    assert stats.acked_writes > 0 and stats.records_checked > 0, _report(stats)
    assert all(_is_zombie(p) for p in builder_pids(path))  # no builder left running


def test_checker_catches_a_lost_write_and_a_half_applied_batch(tmp_path):
    """The checker's teeth: a state missing an acknowledged write, or holding part of the in-flight
    batch, is reported as such (so a clean crash loop means something)."""
    path = str(tmp_path / "data")
    rng = random.Random(1)
    col = open_collection(path)
    first = {"kind": "add", "ids": ["id001", "id002", "id003"], "records": [_rec(i) for i in (1, 2, 3)]}
    run_op(col, first)
    model = apply_op({}, first)
    chroma_frame.Client.clear_system_cache()
    verdict = verify(path, model, None, rng)
    assert verdict.outcome == "ok", verdict
    model = verdict.state  # plus the checker's own write

    # a write the process acknowledged that is not there
    missing = next(f"id{i:03d}" for i in range(300) if f"id{i:03d}" not in model)
    acked = {"kind": "upsert", "ids": [missing], "records": [_rec(9)]}
    assert verify(path, apply_op(model, acked), None, rng).outcome == "lost"
    verdict = verify(path, verify(path, model, None, rng).state, None, rng, sides=frozenset({"side-1"}))
    assert verdict.outcome == "lost" and "side-1" in verdict.detail  # an acknowledged collection missing
    model = verdict.state

    # the in-flight batch half applied: only its first record written
    col = open_collection(path)
    model = _state_of(col)
    new = [f"id{i:03d}" for i in range(300) if f"id{i:03d}" not in model][:2]
    inflight = {"kind": "add", "ids": new, "records": [_rec(10), _rec(11)]}
    run_op(col, {"kind": "add", "ids": new[:1], "records": [_rec(10)]})
    chroma_frame.Client.clear_system_cache()
    verdict = verify(path, model, inflight, rng)
    assert verdict.outcome == "torn", verdict


def _rec(i: int) -> dict:
    rng = random.Random(i)
    return {"document": f"doc {i}", "metadata": {"g": i % 5, "tag": "a", "x": 0.5},
            "embedding": [float(np.float32(rng.gauss(0, 1))) for _ in range(8)]}


def test_journal_reader_takes_only_returned_operations(tmp_path):
    journal = tmp_path / "j.jsonl"
    journal.write_text('{"t": "ready", "pid": 1}\n{"t": "intent", "n": 0, "op": {"kind": "compact"}}\n'
                       '{"t": "ack", "n": 0}\n{"t": "intent", "n": 1, "op": {"kind": "delete", "ids": ["a"]}}\n'
                       '{"t": "ack", "n"')  # cut by the kill
    state = read_journal(str(journal))
    assert state.ready and [op["kind"] for op in state.acked] == ["compact"]
    assert state.inflight == {"kind": "delete", "ids": ["a"]}
