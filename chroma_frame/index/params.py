"""Index parameters: Chroma's ``hnsw`` configuration mapped onto the graph build and search.

| Chroma key | here |
| --- | --- |
| ``space`` | distance of the graph and of results |
| ``max_neighbors`` (M, 16) | graph degree: ``n_neighbors = 3 * M`` (2 * M lost recall on real embeddings, see docs) |
| ``ef_construction`` (100) | ``max_candidates = clamp(ef_construction // 2, 8, 60)`` (stored; unused by the build) |
| ``ef_search`` (100) | search breadth: the beam width of the best-first search |
| ``nndescent.n_neighbors`` | overrides ``3 * M`` |
| ``nndescent.diversify_prob`` (0.0) | stored; every list is diversified (HNSW's heuristic, :mod:`.knn_graph`) |
| ``nndescent.pruning_degree_multiplier`` (2.0) | a node's edge candidates: ``multiplier * n_neighbors`` kNN/reverse |
| ``nndescent.epsilon`` (0.0) | extra search slack: expand nodes up to ``(1 + epsilon)`` x the worst kept distance |
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IndexParams:
    space: str = "l2"
    n_neighbors: int = 48
    max_candidates: int = 50
    diversify_prob: float = 0.0
    pruning_degree_multiplier: float = 2.0
    ef_search: int = 100
    epsilon: float = 0.0
    min_rows: int = 2048  # smaller segments are scanned exactly

    @classmethod
    def from_configuration(cls, configuration: dict) -> "IndexParams":
        hnsw = configuration.get("hnsw") or configuration.get("spann") or {}
        nnd = configuration.get("nndescent") or {}
        m = int(hnsw.get("max_neighbors") or 16)
        efc = int(hnsw.get("ef_construction") or 100)
        return cls(
            space=hnsw.get("space") or "l2",
            n_neighbors=int(nnd.get("n_neighbors") or 4 * m),
            max_candidates=max(8, min(60, efc // 2)),
            diversify_prob=float(nnd.get("diversify_prob", 0.0)),
            pruning_degree_multiplier=float(nnd.get("pruning_degree_multiplier", 2.0)),
            ef_search=int(hnsw.get("ef_search") or 100),
            epsilon=float(nnd.get("epsilon", 0.0)),
            min_rows=int(nnd.get("min_rows", 2048)),
        )

    def wants_graph(self, nodes: int) -> bool:
        """Whether a blockfile with ``nodes`` put rows is searched through a graph (else scanned)."""
        return nodes >= max(self.min_rows, 2)

    def build_key(self) -> tuple:
        """The parameters a built graph depends on (search-time ones excluded)."""
        return (self.space, self.n_neighbors, self.max_candidates, self.diversify_prob, self.pruning_degree_multiplier)
