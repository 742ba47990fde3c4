"""sparse_knn against a brute-force model, under random add / upsert / update / delete / compact.

Every step is checked: the engine through the blockfiles' postings and through rows only, with and
without a candidate restriction, with and without BM25 IDF, equals :func:`reference.dot_top_k`
over the model's live records.
"""

from __future__ import annotations

import tempfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chroma_frame
from tests.engine.sparse_reference import dot_top_k
from tests.engine.sparse_support import assert_same_top_k, engine_top_k, wire

IDS = [f"id{i}" for i in range(8)]
KEY = "sparse"

values = st.one_of(st.sampled_from([0.5, 1.0, 2.0]), st.floats(-2.0, 3.0, allow_nan=False, width=32))
vectors = st.dictionaries(st.integers(0, 9), values, min_size=1, max_size=4)
queries = st.dictionaries(st.integers(0, 11), values, min_size=1, max_size=4)
metadata = st.one_of(
    st.fixed_dictionaries({KEY: vectors}),
    st.fixed_dictionaries({KEY: vectors, "x": st.integers(0, 3)}),
    st.fixed_dictionaries({"x": st.integers(0, 3)}),
)
update_metadata = st.one_of(metadata, st.just({KEY: None}))
batch = st.lists(st.sampled_from(IDS), min_size=1, max_size=3, unique=True)
operations = st.one_of(
    st.tuples(st.sampled_from(["add", "upsert"]), batch, st.lists(metadata, min_size=3, max_size=3)),
    st.tuples(st.just("update"), batch, st.lists(update_metadata, min_size=3, max_size=3)),
    st.tuples(st.just("delete"), batch, st.none()),
    st.tuples(st.just("compact"), st.none(), st.none()),
)


class Model:
    """Chroma's record semantics for the metadata only: id -> metadata, in insertion order."""

    def __init__(self) -> None:
        self.records: dict[str, dict] = {}

    def apply(self, op: str, ids, metas) -> None:
        for i, id_ in enumerate(ids or []):
            if op == "delete":
                self.records.pop(id_, None)
            elif op == "add" or (op == "upsert" and id_ not in self.records):
                self.records.setdefault(id_, dict(metas[i]))
            elif id_ in self.records:  # update, or upsert of an existing id: merge key by key
                merged = {**self.records[id_], **metas[i]}
                self.records[id_] = {k: v for k, v in merged.items() if v is not None}

    def vectors(self) -> dict[str, dict[int, float]]:
        return {id_: {d: float(np.float32(v)) for d, v in meta[KEY].items()}
                for id_, meta in self.records.items() if KEY in meta}


def _run(collection, op: str, ids, metas) -> None:
    if op == "compact":
        collection.compact()
    elif op == "delete":
        collection.delete(ids=ids)
    else:
        given_metas = [{k: (wire(v) if k == KEY and v is not None else v) for k, v in metas[i].items()}
                       for i in range(len(ids))]
        kwargs = {"ids": ids, "metadatas": given_metas}
        if op != "update":
            kwargs["embeddings"] = [[float(i), 1.0] for i in range(len(ids))]
        getattr(collection, op)(**kwargs)


def _check(collection, model: Model, query: dict, k: int, subset: list[str]) -> None:
    vectors = model.vectors()
    order = list(model.records)
    live_subset = [id_ for id_ in subset if id_ in model.records]
    for bm25 in (False, True):
        all_scores = dict(dot_top_k(vectors, query, len(vectors), bm25_idf=bm25, n_records=len(order), order=order))
        expected = dot_top_k(vectors, query, k, bm25_idf=bm25, n_records=len(order), order=order)
        for use_index in (True, False):
            got = engine_top_k(collection, KEY, query, k, bm25=bm25, use_index=use_index)
            assert_same_top_k(got, expected, all_scores, order)
        restricted = {id_: vec for id_, vec in vectors.items() if id_ in live_subset}
        expected = [pair for pair in dot_top_k(vectors, query, len(vectors), bm25_idf=bm25, n_records=len(order),
                                               order=order) if pair[0] in restricted][:k]
        got = engine_top_k(collection, KEY, query, k, bm25=bm25, ids=subset)
        assert_same_top_k(got, expected, {i: s for i, s in all_scores.items() if i in restricted}, order)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(operations, queries, st.integers(1, 5), st.lists(st.sampled_from(IDS), unique=True)),
                      min_size=1, max_size=10))
def test_sparse_knn_matches_brute_force(steps):
    with tempfile.TemporaryDirectory() as root:
        collection = chroma_frame.PersistentClient(path=root).create_collection("sparse-model")
        model = Model()
        for (op, ids, metas), query, k, subset in steps:
            _run(collection, op, ids, metas)
            model.apply(op, ids, metas)
            _check(collection, model, query, k, subset)
