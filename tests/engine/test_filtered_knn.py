"""Filtered nearest-neighbour search ranked in place (``engine.filtered_knn``): the top-k among a
filter's candidates equals the exact scan's (``dense_knn.search`` gathering them), through the
float32 ranking and through the 8-bit codes, on data with near-duplicates over several segments."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chroma_frame.engine import codes, filtered_knn
from chroma_frame.engine.dense_knn import search
from chroma_frame.engine.snapshot import Snapshot
from chroma_frame.storage.records import PUT, build_rows

DIM = 24


def _clustered(rng: np.random.Generator, n: int) -> np.ndarray:
    """Groups of near-duplicates (the case where a coarse ranking could swap neighbours)."""
    base = rng.standard_normal((n // 8 + 1, DIM)).astype(np.float32)
    return (np.repeat(base, 8, axis=0)[:n] + 0.05 * rng.standard_normal((n, DIM))).astype(np.float32)


def _snapshot(matrix: np.ndarray, blockfiles: int) -> Snapshot:
    parts = np.array_split(np.arange(len(matrix)), blockfiles + 1)
    tables = [build_rows(dimension=DIM, seqs=i, rowids=part.tolist(), ops=PUT, ids=[f"r{j}" for j in part],
                         embeddings=matrix[part]) for i, part in enumerate(parts)]
    return Snapshot.build(manifest_version=1, last_seq=len(tables), dimension=DIM,
                          blockfiles=[(f"b{i}", t) for i, t in enumerate(tables[:blockfiles])], tail=tables[blockfiles:])


@pytest.fixture(scope="module")
def kernels():
    codes.scan_kernels()
    while codes._state["kernels"] is None:  # loads in the background
        assert codes._state["loading"]
        import time

        time.sleep(0.05)
    return codes._state["kernels"]


def _codes_ready() -> None:
    codes.CODER.wait()


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), space=st.sampled_from(["l2", "cosine", "ip"]), k=st.integers(1, 30),
       share=st.floats(0.3, 1.0), coded=st.booleans(), queries=st.integers(1, 5))
def test_matches_exact_scan(kernels, monkeypatch, seed, space, k, share, coded, queries):
    monkeypatch.setattr(filtered_knn, "MIN_CANDIDATES", 0)
    monkeypatch.setattr(filtered_knn, "_CHUNK", 256)  # several threads' tasks per segment
    rng = np.random.default_rng(seed)
    matrix = _clustered(rng, 2400)
    snap = _snapshot(matrix, blockfiles=3)
    candidates = np.flatnonzero(rng.random(len(matrix)) < share)
    q = matrix[rng.integers(0, len(matrix), queries)] + 0.05 * rng.standard_normal((queries, DIM)).astype(np.float32)
    if coded:
        filtered_knn.filtered_search(snap, q, k, space, candidates)
        _codes_ready()
        assert sum(c is not None for c in codes._codes.values()) >= 3  # every blockfile is coded
    got_pos, got_dist = filtered_knn.filtered_search(snap, q, k, space, candidates)
    want_pos, want_dist = search(snap, q, k, space, candidates)
    for gp, gd, wp, wd in zip(got_pos, got_dist, want_pos, want_dist):
        assert sorted(gp.tolist()) == sorted(wp.tolist())
        # float32 rounding only (dot products summed in another order; l2 and ip are not normalised)
        np.testing.assert_allclose(gd, wd, rtol=1e-5, atol=1e-5 if space == "cosine" else 1e-4)


def test_non_finite_queries_keep_the_exact_scan_semantics(kernels, monkeypatch):
    monkeypatch.setattr(filtered_knn, "MIN_CANDIDATES", 0)
    rng = np.random.default_rng(3)
    matrix = _clustered(rng, 600)
    snap = _snapshot(matrix, blockfiles=1)
    candidates = np.arange(0, 600, 3)
    q = np.stack([matrix[0], np.full(DIM, np.nan, np.float32), np.full(DIM, np.inf, np.float32)])
    got = filtered_knn.filtered_search(snap, q, 5, "l2", candidates)
    want = search(snap, q, 5, "l2", candidates)
    for a, b in zip(got[0] + got[1], want[0] + want[1]):
        np.testing.assert_array_equal(a, b)


def test_codes_stay_within_their_memory_budget(kernels, monkeypatch):
    monkeypatch.setattr(filtered_knn, "MIN_CANDIDATES", 0)
    monkeypatch.setattr(codes, "MAX_CODE_BYTES", 0)
    rng = np.random.default_rng(4)
    snap = _snapshot(_clustered(rng, 900), blockfiles=2)
    filtered_knn.filtered_search(snap, rng.standard_normal((1, DIM)).astype(np.float32), 3, "cosine",
                                 np.arange(0, 900, 2))
    _codes_ready()
    assert all(id(seg.table) not in codes._codes for seg in snap.segments)


def test_codes_being_made_count_against_the_budget(kernels, monkeypatch):
    """Asking for several blockfiles' codes at once (a query over many graphs) reserves the
    budget as it goes: codes still being made count, so the process never holds more."""
    rng = np.random.default_rng(6)
    snap = _snapshot(_clustered(rng, 900), blockfiles=3)
    blockfiles = [seg for seg in snap.segments if seg.name is not None]
    _codes_ready()  # earlier tests' codes are made; then this test starts from an empty ledger
    monkeypatch.setattr(codes, "_codes", {})
    monkeypatch.setattr(codes, "_sizes", {})
    monkeypatch.setattr(codes, "MAX_CODE_BYTES", blockfiles[0].matrix.size * 3 // 2)
    for seg in blockfiles:  # no wait between: none is made yet when the next is asked for
        codes.codes_of(seg)
    _codes_ready()
    coded = [seg for seg in blockfiles if codes.codes_of(seg) is not None]
    assert len(coded) == 1
    assert codes.code_bytes() <= codes.MAX_CODE_BYTES
