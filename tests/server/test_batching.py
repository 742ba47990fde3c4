"""The server's query coalescer: concurrent calls of one key share batches, each gets its own answer."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chroma_frame.server.batching import Coalescer


def _recording_runner(delay: float = 0.0):
    batches: list[list[int]] = []
    guard = threading.Lock()

    def run_batch(items: list[int]) -> list[int]:
        with guard:
            batches.append(list(items))
        time.sleep(delay)
        if any(i < 0 for i in items):
            raise ValueError(f"negative item in {items}")
        return [i * 10 for i in items]

    return run_batch, batches


def test_an_idle_coalescer_runs_each_call_at_once():
    run_batch, batches = _recording_runner()
    coalescer = Coalescer(max_running=1)
    assert [coalescer.submit("k", i, run_batch) for i in range(3)] == [0, 10, 20]
    assert batches == [[0], [1], [2]]


@settings(max_examples=15, deadline=None)
@given(items=st.lists(st.integers(-3, 50), min_size=1, max_size=24), max_running=st.integers(1, 3),
       keys=st.integers(1, 3))
def test_every_caller_gets_its_own_result_or_error(items, max_running, keys):
    run_batch, batches = _recording_runner(delay=0.002)
    coalescer = Coalescer(max_running=max_running, max_batch=8)

    def call(pair):
        n, item = pair
        try:
            return coalescer.submit(n % keys, item, run_batch)
        except ValueError as exc:
            return exc

    with ThreadPoolExecutor(len(items)) as pool:
        out = list(pool.map(call, enumerate(items)))
    for item, got in zip(items, out):
        if item < 0:
            assert isinstance(got, ValueError) and str(got) == f"negative item in [{item}]"
        else:
            assert got == item * 10
    assert all(len(b) <= 8 for b in batches)
    assert coalescer._keys == {}  # nothing left waiting or counted as running


def test_calls_that_arrive_while_one_runs_share_the_next_batch():
    run_batch, batches = _recording_runner(delay=0.3)
    coalescer = Coalescer(max_running=1)
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(coalescer.submit, "k", 0, run_batch)
        time.sleep(0.1)  # the first call is running
        rest = [pool.submit(coalescer.submit, "k", i, run_batch) for i in range(1, 6)]
        assert first.result() == 0 and [f.result() for f in rest] == [10, 20, 30, 40, 50]
    assert batches[0] == [0]
    assert sorted(sum(batches[1:], [])) == [1, 2, 3, 4, 5]
    assert len(batches) < 6  # the later calls were coalesced


def test_different_keys_never_share_a_batch():
    run_batch, batches = _recording_runner(delay=0.05)
    coalescer = Coalescer(max_running=1)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: coalescer.submit(i % 2, i, run_batch), range(8)))
    assert results == [i * 10 for i in range(8)]
    assert all(len({i % 2 for i in batch}) == 1 for batch in batches)


def test_a_failing_batch_of_one_raises_to_its_caller():
    run_batch, _ = _recording_runner()
    with pytest.raises(ValueError, match=r"negative item in \[-1\]"):
        Coalescer().submit("k", -1, run_batch)


@pytest.mark.parametrize("space", ["l2", "cosine", "ip"])
def test_queries_sharing_one_exact_pass_get_exact_distances(space):
    """Coalesced queries are scanned together (one compiled pass for up to 8): same distances."""
    from chroma_frame.engine.dense_knn import distances, prepare_kernels

    assert prepare_kernels(wait=True)
    rng = np.random.default_rng(5)
    matrix = rng.standard_normal((3000, 48)).astype(np.float32)
    sq_norms = np.einsum("ij,ij->i", matrix, matrix)
    m64 = matrix.astype(np.float64)
    for count in (1, 2, 5, 8, 9, 40):
        queries = rng.standard_normal((count, 48)).astype(np.float32)
        q64 = queries.astype(np.float64)
        dots = q64 @ m64.T
        if space == "ip":
            expected = 1 - dots
        elif space == "cosine":
            expected = 1 - dots / np.outer(np.linalg.norm(q64, axis=1), np.linalg.norm(m64, axis=1))
        else:
            expected = (q64 ** 2).sum(1)[:, None] + (m64 ** 2).sum(1)[None, :] - 2 * dots
        got = distances(queries, matrix, space, sq_norms)
        assert got.shape == (count, 3000) and got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_only_small_queries_with_equal_parameters_share_a_key():
    from chroma_frame.server.batching import COALESCE_MAX_ROWS, query_key
    from chroma_frame.server.schemas import QueryRequestPayload

    def key(rows: int, dim: int = 4, **params):
        body = QueryRequestPayload(query_embeddings=[[0.0] * dim] * rows, **params)
        return query_key("t", "d", "c", body, np.zeros((rows, dim), np.float32))

    assert key(1) == key(COALESCE_MAX_ROWS) is not None
    assert key(COALESCE_MAX_ROWS + 1) is None  # a big batch never holds up small queries
    assert key(1, where={"a": 1, "b": 2}) == key(2, where={"b": 2, "a": 1})
    different = [key(1, dim=5), key(1, n_results=3), key(1, include=["documents"]), key(1, where={"a": 2}),
                 key(1, where_document={"$contains": "x"}), key(1, ids=["x"])]
    assert len({key(1), *different}) == 1 + len(different)
