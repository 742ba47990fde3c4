"""Corruption fuzz, a short seeded run: one damaged file per case (bit flips, overwritten bytes,
truncations across every kind of file), each read back by a fresh process. Every outcome must be
an error naming the damaged file or exactly the undamaged answers; never a crash or wrong data.
``benchmarks/reliability/corruption_fuzz.py`` runs thousands of cases."""

from __future__ import annotations

from tests.reliability.corruption import DERIVED, KINDS, build_fixture, make_cases, run_cases, summary

CASES = 6 * len(KINDS)  # 42: six per kind of file


def test_damage_gives_a_clear_error_or_the_right_answer(tmp_path):
    build_fixture(tmp_path / "fixture")
    cases = make_cases(tmp_path / "fixture", CASES, seed=11)
    expected = run_cases(tmp_path / "fixture", cases, tmp_path / "work")
    assert expected["count"] > 100 and expected["query_ids"] and expected["sparse"]
    bad = [case for case in cases
           if case.outcome not in ("right", "error") or (case.kind in DERIVED and case.outcome != "right")]
    assert not bad, (summary(cases), bad)
    counts = summary(cases)
    assert counts["error"] >= len(cases) // 3, counts  # damage to data files is detected, not ignored
