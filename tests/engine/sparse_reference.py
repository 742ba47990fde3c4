"""Pure-Python oracles: textbook BM25 from token lists, and brute-force sparse dot-product top-k.

BM25 (Robertson/Sparck Jones with Lucene's non-negative IDF), for a document d and query q:

    idf(t)   = ln(1 + (N - n_t + 0.5) / (n_t + 0.5))
    w(tf, L) = tf * (k1 + 1) / (tf + k1 * (1 - b + b * L / avgdl))
    bm25(d)  = sum over distinct t in q of idf(t) * w(tf_d(t), |d|)

N is the number of (live) records, n_t how many of them contain t, |d| the number of tokens of
d. Chroma's BM25 embedding function puts w(tf_q(t), |q|) on the query side too, so the engine's
score with ``bm25=True`` is ``1 - chroma_bm25(d)`` with

    chroma_bm25(d) = sum over distinct t in q of idf(t) * w(tf_q(t), |q|) * w(tf_d(t), |d|)

which equals ``w(1, |q|) * bm25(d)`` whenever no query token repeats.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Hashable, Mapping, Sequence

import numpy as np

K1 = 1.2
B = 0.75
AVGDL = 256.0  # ChromaBm25EmbeddingFunction's avg_doc_length: a constant, not the corpus mean


def idf(n: int, n_t: int) -> float:
    return math.log(1.0 + (n - n_t + 0.5) / (n_t + 0.5))


def tf_weight(tf: int, length: int, k1: float = K1, b: float = B, avgdl: float = AVGDL) -> float:
    return tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * length / avgdl))


def document_frequencies(docs: Mapping[str, Sequence[Hashable]]) -> Counter:
    df: Counter = Counter()
    for tokens in docs.values():
        df.update(set(tokens))
    return df


def bm25(docs: Mapping[str, Sequence[Hashable]], query: Sequence[Hashable], *, query_weights: bool = False,
         k1: float = K1, b: float = B, avgdl: float = AVGDL) -> dict[str, float]:
    """Score of every document sharing a token with ``query`` (``docs``: every live record's tokens).

    ``query_weights=True`` adds Chroma's query-side weight w(tf_q, |q|) (see the module doc).
    """
    n = len(docs)
    df = document_frequencies(docs)
    q_counts = Counter(query)
    scores: dict[str, float] = {}
    for doc_id, tokens in docs.items():
        counts = Counter(tokens)
        shared = [t for t in q_counts if t in counts]
        if not shared:
            continue
        total = 0.0
        for t in shared:
            weight = tf_weight(q_counts[t], len(query), k1, b, avgdl) if query_weights else 1.0
            total += idf(n, df[t]) * weight * tf_weight(counts[t], len(tokens), k1, b, avgdl)
        scores[doc_id] = total
    return scores


def dot_top_k(vectors: Mapping[str, Mapping[int, float]], query: Mapping[int, float], k: int, *,
              bm25_idf: bool = False, n_records: int | None = None, order: Sequence[str] | None = None
              ) -> list[tuple[str, float]]:
    """Brute-force top-k of ``1 - q·d`` (as float32) over ``vectors`` (id -> {dim: value}), ties by ``order``.

    With ``bm25_idf`` the query is scaled by idf over ``vectors`` (``n_records`` live records).
    Records without a shared dimension are left out.
    """
    q = dict(query)
    if bm25_idf:
        n = len(vectors) if n_records is None else n_records
        q = {t: v * idf(n, sum(1 for vec in vectors.values() if t in vec)) for t, v in q.items()}
    rank = {id_: i for i, id_ in enumerate(order or sorted(vectors))}
    hits = []
    for id_, vec in vectors.items():
        shared = [t for t in q if t in vec]
        if shared:  # Chroma's measure is a float32
            hits.append((id_, float(np.float32(1.0 - sum(q[t] * vec[t] for t in shared)))))
    hits.sort(key=lambda pair: (pair[1], rank[pair[0]]))
    return hits[:k]
