"""Seeded clustered vectors with near-duplicates, for the scale benchmarks (any size, streamed).

    python benchmarks/scale_data.py --rows 1000000 --out /tmp/scale_1m.parquet [--dim 384] [--seed 0]

The data has the structure that makes graph indexes hard and that real embedding corpora have:
points gather in clusters of uneven size, and every record has ``variants - 1`` near-duplicates
(the same base vector with a little noise), so a query's nearest neighbours are a tight group
inside a dense cluster. All vectors are unit length (cosine, inner product and L2 agree).

Rows come in groups of ``variants``: group ``g`` holds a base point ``b_g`` drawn around one of
``clusters`` centres, and its rows are ``normalize(b_g + noise * N(0, I) / sqrt(dim))``. Columns:
``id`` ("r<row>"), ``embedding`` (fixed-size list float32), ``shard`` (the variant number, so
``shard == s`` matches 1/variants of the rows), ``year`` (2005-2026, skewed towards recent years:
2016-2019 holds about 20%), ``category`` (one of 50 strings, Zipf-like), ``document`` (a few words
from a 2,000-word vocabulary, the cluster's words first, so ``$contains`` filters have answers of
every size). Every chunk of groups is generated from its own seed, so any slice can be produced on
its own (by a Ray task, say) and the whole is the same whatever the chunking.

``queries(n, ...)`` draws queries near random groups (not equal to any row), with a different
seed; ``exact_top_k`` computes their true neighbours by brute force in chunks.
"""

from __future__ import annotations

import argparse
import math
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

GROUPS_PER_CHUNK = 2_500
YEARS = np.arange(2005, 2027)
_YEAR_WEIGHTS = np.linspace(1.0, 3.0, len(YEARS))
_YEAR_WEIGHTS = _YEAR_WEIGHTS / _YEAR_WEIGHTS.sum()
CATEGORIES = [f"cat{i:02d}" for i in range(50)]
_CATEGORY_WEIGHTS = 1.0 / np.arange(1, 51)
_CATEGORY_WEIGHTS = _CATEGORY_WEIGHTS / _CATEGORY_WEIGHTS.sum()
VOCABULARY = 2_000


def _normalize(m: np.ndarray) -> np.ndarray:
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    return m


class ClusteredData:
    """The generator's parameters; ``batches()`` streams the rows as Arrow record batches."""

    def __init__(self, rows: int, dim: int = 384, seed: int = 0, variants: int = 20,
                 clusters: int | None = None, spread: float = 0.6, noise: float = 0.25) -> None:
        self.rows, self.dim, self.seed, self.variants = rows, dim, seed, variants
        self.groups = math.ceil(rows / variants)
        self.clusters = clusters or max(1, self.groups // 50)
        self.spread, self.noise = spread, noise
        centres = np.random.default_rng([seed, 1]).standard_normal((self.clusters, dim), dtype=np.float32)
        self.centres = _normalize(centres)
        # uneven cluster sizes (a few large, many small), as topics in a real corpus
        sizes = np.random.default_rng([seed, 2]).pareto(1.5, self.clusters) + 1.0
        self.cluster_p = sizes / sizes.sum()
        words = np.random.default_rng([seed, 3]).integers(0, VOCABULARY, (self.clusters, 3))
        self.cluster_words = words

    def base_points(self, first_group: int, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
        """Base vectors and cluster of groups ``first_group .. first_group + n_groups``."""
        rng = np.random.default_rng([self.seed, 4, first_group])
        cluster = rng.choice(self.clusters, n_groups, p=self.cluster_p)
        jitter = rng.standard_normal((n_groups, self.dim), dtype=np.float32) * (self.spread / math.sqrt(self.dim))
        return _normalize(self.centres[cluster] + jitter), cluster

    def chunk(self, index: int) -> pa.RecordBatch:
        """Rows of groups ``index * GROUPS_PER_CHUNK ..`` (the last chunk may be shorter)."""
        first = index * GROUPS_PER_CHUNK
        n_groups = min(GROUPS_PER_CHUNK, self.groups - first)
        base, cluster = self.base_points(first, n_groups)
        rng = np.random.default_rng([self.seed, 5, index])
        v = self.variants
        start_row = first * v
        n = min(n_groups * v, self.rows - start_row)
        rep = np.repeat(np.arange(n_groups), v)[:n]
        noise = rng.standard_normal((n, self.dim), dtype=np.float32) * (self.noise / math.sqrt(self.dim))
        vectors = _normalize(base[rep] + noise)
        rows = np.arange(start_row, start_row + n)
        year = rng.choice(YEARS, n, p=_YEAR_WEIGHTS).astype(np.int64)
        category = rng.choice(len(CATEGORIES), n, p=_CATEGORY_WEIGHTS)
        own = self.cluster_words[cluster[rep]]
        extra = rng.integers(0, VOCABULARY, (n, 3))
        documents = [f"w{a} w{b} w{c} w{d} w{e} w{f}" for a, b, c, d, e, f in
                     np.concatenate([own, extra], axis=1).tolist()]
        return pa.record_batch({
            "id": pa.array([f"r{i}" for i in rows.tolist()], pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), self.dim),
            "shard": pa.array((rows % v).astype(np.int64)),
            "year": pa.array(year),
            "category": pa.DictionaryArray.from_arrays(pa.array(category.astype(np.int32)),
                                                       pa.array(CATEGORIES)).cast(pa.string()),
            "document": pa.array(documents, pa.string()),
        })

    def batches(self) -> Iterator[pa.RecordBatch]:
        for index in range(math.ceil(self.groups / GROUPS_PER_CHUNK)):
            yield self.chunk(index)

    def queries(self, n: int, seed: int = 1) -> np.ndarray:
        """``n`` query vectors, each near a random group's base point (noise like a variant's)."""
        rng = np.random.default_rng([self.seed, 6, seed])
        groups = rng.choice(self.groups, n, replace=False)
        out = np.empty((n, self.dim), np.float32)
        for chunk in np.unique(groups // GROUPS_PER_CHUNK).tolist():
            first = chunk * GROUPS_PER_CHUNK
            base, _ = self.base_points(first, min(GROUPS_PER_CHUNK, self.groups - first))
            mine = groups // GROUPS_PER_CHUNK == chunk
            out[mine] = base[groups[mine] - first]
        out += rng.standard_normal(out.shape, dtype=np.float32) * (self.noise / math.sqrt(self.dim))
        return _normalize(out)

    def write_parquet(self, path: str, row_group_size: int = 100_000) -> None:
        first = next(self.batches())
        with pq.ParquetWriter(path, first.schema) as writer:
            for batch in self.batches():
                writer.write_table(pa.Table.from_batches([batch]), row_group_size=row_group_size)


def exact_top_k(batches: Iterator[pa.RecordBatch], queries: np.ndarray, k: int = 10,
                mask_of: "callable | None" = None) -> np.ndarray:
    """Row numbers of the ``k`` nearest rows (cosine) of each query, by brute force in chunks.
    ``mask_of(batch) -> bool array`` restricts the search to matching rows (filtered ground truth)."""
    best_d = np.full((len(queries), k), np.inf, np.float32)
    best_i = np.full((len(queries), k), -1, np.int64)
    offset = 0
    for batch in batches:
        m = batch.column("embedding").flatten().to_numpy().reshape(len(batch), -1)  # flatten: slices too
        d = 1.0 - queries @ m.T
        if mask_of is not None:
            d[:, ~np.asarray(mask_of(batch))] = np.inf
        ids = np.broadcast_to(np.arange(offset, offset + len(batch)), d.shape)
        all_d = np.concatenate([best_d, d], axis=1)
        all_i = np.concatenate([best_i, ids], axis=1)
        top = np.argpartition(all_d, k - 1, axis=1)[:, :k] if all_d.shape[1] > k else np.argsort(all_d, axis=1)
        best_d = np.take_along_axis(all_d, top, 1)
        best_i = np.take_along_axis(all_i, top, 1)
        offset += len(batch)
    order = np.argsort(best_d, axis=1, kind="stable")
    return np.take_along_axis(best_i, order, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    ClusteredData(args.rows, args.dim, args.seed).write_parquet(args.out)


if __name__ == "__main__":
    main()
