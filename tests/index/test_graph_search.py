"""The search kernel over several segments' graphs against exact search (hypothesis)."""

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chroma_frame.index.build import build_graph
from chroma_frame.index.manager import kernels
from chroma_frame.index.params import IndexParams

SPACES = ("l2", "cosine", "ip")
DIM = 8


def _clustered(rng, n):
    """Clusters of near-duplicates: the data on which a kNN graph falls apart into islands."""
    centres = rng.normal(size=(max(1, n // 40), DIM))
    groups = centres[rng.integers(0, len(centres), max(1, n // 8))] + 0.3 * rng.normal(size=(max(1, n // 8), DIM))
    return (groups[rng.integers(0, len(groups), n)] + 0.02 * rng.normal(size=(n, DIM))).astype(np.float32)


def _exact(space, queries, matrix):
    dots = queries @ matrix.T
    if space == "ip":
        return 1.0 - dots
    if space == "cosine":
        return 1.0 - dots / np.outer(np.linalg.norm(queries, axis=1), np.linalg.norm(matrix, axis=1))
    return ((queries[:, None, :] - matrix[None, :, :]) ** 2).sum(-1)


@pytest.fixture(scope="module")
def kern():
    return kernels(wait=True)


@pytest.fixture(scope="module")
def scan_kern():
    from chroma_frame.engine.codes import scan_kernels

    while scan_kernels() is None:  # loads in the background
        time.sleep(0.05)
    return scan_kernels()


@pytest.mark.parametrize("space", SPACES)
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**16), sizes=st.lists(st.integers(2, 700), min_size=1, max_size=3),
       share=st.sampled_from([1.0, 0.5, 0.1]), k=st.sampled_from([1, 10]), coded=st.booleans())
def test_graphs_searched_together_match_exact(kern, scan_kern, space, seed, sizes, share, k, coded):
    """All segments' graphs in one call, walked on the float32 rows or on 8-bit codes: sorted,
    allowed rows only, never fewer than the graphs found, Chroma's (exact) distances, and the
    exact top-k (recall floor) from few allowed nodes to all."""
    from chroma_frame.engine.codes import quantize

    rng = np.random.default_rng(seed)
    params = IndexParams(space=space, n_neighbors=16)
    matrices = [_clustered(rng, n) for n in sizes]
    graphs = [build_graph(m, params, seed=seed) for m in matrices]
    starts = np.cumsum([0] + sizes[:-1]).astype(np.int64)
    allowed = rng.random(sum(sizes)) < share
    masked = np.array([not allowed[s:s + n].all() for s, n in zip(starts, sizes)], np.uint8)
    queries = _clustered(rng, 12)
    norms = [np.einsum("ij,ij->i", m, m) for m in matrices]
    codes = [(c.codes, c.low, c.scale) for c in (quantize(m, scan_kern) for m in matrices)] if coded else None
    packed = kern.pack(matrices, norms, graphs, codes)
    idx, dist, found = kern.search_graphs(kern.SPACE_CODES[space], queries, k, 64, 0.0, *packed, starts,
                                          allowed.view(np.uint8), masked)
    everything = np.concatenate(matrices)
    exact = _exact(space, queries, everything)
    exact[:, ~allowed] = np.inf
    hits = wanted = 0
    for q in range(len(queries)):
        got = idx[q][idx[q] >= 0]
        assert len(got) == min(k, found[q].sum()) and len(set(got)) == len(got)
        assert allowed[got].all()
        assert np.all(np.diff(dist[q][: len(got)]) >= 0)
        np.testing.assert_allclose(dist[q][: len(got)], exact[q, got], rtol=1e-4, atol=1e-4)
        truth = np.argsort(exact[q], kind="stable")[: min(k, int(allowed.sum()))]
        hits += len(set(got) & set(truth))
        wanted += len(truth)
    assert hits >= 0.9 * wanted, (hits, wanted)


def test_upper_layer_finds_the_group_of_a_query(kern):
    """400 groups of 20 near-duplicates, 16 neighbours a node: entered at the pivots nearest to
    the query, the beam stalls in neighbouring groups (recall 0.8); through the upper layer it
    reaches the query's."""
    rng = np.random.default_rng(3)
    base = rng.normal(size=(400, 32)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    data = np.repeat(base, 20, axis=0) + 0.05 * rng.normal(size=(8000, 32)).astype(np.float32)
    graph = build_graph(data, IndexParams(space="l2", n_neighbors=16))
    queries = (base[rng.integers(0, 400, 200)] + 0.05 * rng.normal(size=(200, 32))).astype(np.float32)
    truth = np.argsort(_exact("l2", queries, data), axis=1)[:, :10]
    sq = np.einsum("ij,ij->i", data, data)
    no_upper = (np.zeros(0, np.int64), np.zeros(1, np.int64), np.zeros(0, np.int32))
    recall = {}
    for name, upper in (("upper", (graph.upper, graph.upper_indptr, graph.upper_indices)), ("pivots", no_upper)):
        idx, _, _ = kern.search_batch(0, data, sq, graph.indptr, graph.indices, graph.pivots, *upper, queries, 10,
                                      64, 0.0, np.zeros(0, np.uint8), False)
        recall[name] = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(idx, truth)])
    assert recall["upper"] >= 0.9 and recall["upper"] > recall["pivots"] + 0.1, recall


@pytest.mark.parametrize("space", SPACES)
def test_collection_of_several_graphs_matches_exact(tmp_path, space):
    """Three blockfiles, each with its graph, searched in one kernel call: deletes, updates,
    a broad filter (the graphs with an allowed set), and NaN / infinite queries (scanned)."""
    import chroma_frame
    from tests.index.test_index import _check_against_exact, _config

    col = chroma_frame.PersistentClient(path=str(tmp_path)).create_collection(
        "several", embedding_function=None, configuration=_config(space))
    col._store.index.auto_build = False
    rng = np.random.default_rng(5)
    for part in range(3):
        emb = _clustered(rng, 400)
        col.add(ids=[f"p{part}-{i}" for i in range(400)], embeddings=emb,
                metadatas=[{"even": i % 2 == 0} for i in range(400)])
        col.compact()
    assert col.build_index(progress=False) == 3
    col.delete(ids=[f"p1-{i}" for i in range(0, 400, 3)])
    col.update(ids=[f"p2-{i}" for i in range(50)], embeddings=_clustered(rng, 50))
    status = col.index_status()
    assert status["indexed_rows"] >= 1200 and status["failed"] == []
    queries = _clustered(rng, 20)
    _check_against_exact(col, queries, 10, min_recall=0.95)
    _check_against_exact(col, queries, 10, where={"even": True}, min_recall=0.95)
    odd = np.vstack([np.full(DIM, np.nan, np.float32), np.full(DIM, np.inf, np.float32), queries[:1]])
    got = col.query(query_embeddings=odd, n_results=5, include=["distances"])
    assert [len(ids) for ids in got["ids"]] == [5, 5, 5]
    assert np.isnan(got["distances"][0]).all() and got["ids"][2] == col.query(
        query_embeddings=queries[:1], n_results=5, include=[])["ids"][0]


@pytest.mark.parametrize("space", SPACES)
def test_walks_on_codes_keep_exact_distances(tmp_path, space):
    """Once a blockfile's 8-bit codes are made, its graph is walked on them: the answers still
    carry the exact distances, in order, and find the exact top-k."""
    import chroma_frame
    from chroma_frame.engine import codes, dense_knn
    from tests.index.test_index import _check_against_exact, _config, _exact

    col = chroma_frame.PersistentClient(path=str(tmp_path)).create_collection(
        "coded", embedding_function=None, configuration=_config(space))
    col._store.index.auto_build = False
    rng = np.random.default_rng(9)
    col.add(ids=[f"r{i}" for i in range(3000)], embeddings=_clustered(rng, 3000))
    col.compact()
    assert col.build_index(progress=False) == 1
    queries = _clustered(rng, 30)
    while codes.scan_kernels() is None:
        time.sleep(0.05)
    col.query(query_embeddings=queries[:1], n_results=1)  # asks for the codes
    codes.CODER.wait()
    got = _check_against_exact(col, queries, 10, min_recall=0.95)
    packed = dense_knn._PACKED[0][1]
    assert packed[3][0][0].shape == (3000, DIM)  # the walk read the codes
    want_ids, want_d = _exact(col, queries, 10)
    for g_ids, g_d, w_ids, w_d in zip(got["ids"], got["distances"], want_ids, want_d):
        for i in set(g_ids) & set(w_ids):
            assert g_d[g_ids.index(i)] == pytest.approx(w_d[w_ids.index(i)], rel=1e-5, abs=1e-5)


def test_pivots_cover_isolated_regions():
    """Random pivots can all miss a small region far from the rest, where a walk then starts too
    far away to reach it; the builder adds the points farthest from every pivot as pivots."""
    from chroma_frame.index.build import _covering

    rng = np.random.default_rng(11)
    body = np.zeros((4000, 16), np.float32)  # in the first 8 dimensions; the island in the last 8,
    body[:, :8] = rng.normal(size=(4000, 8))  # so it is far in every space (angle and length)
    island = np.zeros((20, 16), np.float32)
    island[:, 8:] = 40.0 + 0.1 * rng.normal(size=(20, 8))
    points = np.vstack([body, island])
    pivots = np.arange(0, 4000, 100)  # none on the island
    for space in SPACES:
        out = _covering(points, pivots, space)
        assert set(pivots) <= set(out) and len(pivots) < len(out) <= 2 * len(pivots)
        assert np.all(np.diff(out) > 0)
        assert (out >= 4000).any(), space  # the island got a pivot
    graph = build_graph(points, IndexParams(space="l2", n_neighbors=16))
    pivot_rows = graph.pivots
    nearest = ((points[4000:, None, :] - points[pivot_rows][None, :, :]) ** 2).sum(-1).min(axis=1)
    assert nearest.max() < 1.0  # every island point has a pivot beside it (the body is ~1,600 away)
