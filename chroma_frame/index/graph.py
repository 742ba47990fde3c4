"""A segment's search graph as plain arrays, persisted as ``.npz`` (read with allow_pickle=False).

The graph is in the blockfile's own row order: node ``i`` is row ``i`` of the blockfile. A file
that is truncated, corrupt or does not fit its blockfile raises :class:`CorruptIndex`.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import numpy as np

from chroma_frame.storage.fs import Storage

FORMAT = 1


class CorruptIndex(Exception):
    """An index file that cannot be used; the caller rebuilds it."""


@dataclass(frozen=True)
class Graph:
    indptr: np.ndarray  # int64 (n + 1)
    indices: np.ndarray  # int32 (nnz), neighbours of each node
    pivots: np.ndarray  # int64: candidate entry points
    space: str
    rows: int
    dimension: int

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, indptr=self.indptr, indices=self.indices, pivots=self.pivots,
                 meta=np.array([FORMAT, self.rows, self.dimension], dtype=np.int64),
                 space=np.frombuffer(self.space.encode(), dtype=np.uint8))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, *, rows: int, dimension: int, space: str) -> "Graph":
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                arrays = {name: z[name] for name in ("indptr", "indices", "pivots", "meta", "space")}
        except (zipfile.BadZipFile, ValueError, KeyError, OSError, EOFError) as exc:
            raise CorruptIndex(f"unreadable index: {exc}") from exc
        fmt, n, dim = (int(x) for x in arrays["meta"])
        graph = cls(arrays["indptr"].astype(np.int64, copy=False), arrays["indices"].astype(np.int32, copy=False),
                    arrays["pivots"].astype(np.int64, copy=False), bytes(arrays["space"]).decode(), n, dim)
        if fmt != FORMAT or n != rows or dim != dimension or graph.space != space:
            raise CorruptIndex(f"index does not match its blockfile ({n}x{dim} {graph.space}, expected {rows}x{dimension} {space})")
        if len(graph.indptr) != n + 1 or graph.indptr[-1] != len(graph.indices) or (
            len(graph.indices) and (graph.indices.min() < 0 or graph.indices.max() >= n)
        ) or (len(graph.pivots) and graph.pivots.max() >= n):
            raise CorruptIndex("index arrays are inconsistent")
        return graph


def index_path(block_rel: str, space: str) -> str:
    """``blocks/<uuid>.parquet`` -> ``blocks/<uuid>.<space>.graph.npz``."""
    return block_rel.rsplit(".", 1)[0] + f".{space}.graph.npz"


def save_graph(storage: Storage, prefix: str, block_rel: str, graph: Graph) -> None:
    storage.write_atomic(f"{prefix}/{index_path(block_rel, graph.space)}", graph.to_bytes())


def load_graph(storage: Storage, prefix: str, block_rel: str, *, rows: int, dimension: int, space: str) -> Graph | None:
    """The segment's graph, None when it is not built yet; raises CorruptIndex."""
    try:
        data = storage.read_bytes(f"{prefix}/{index_path(block_rel, space)}")
    except FileNotFoundError:
        return None
    return Graph.from_bytes(data, rows=rows, dimension=dimension, space=space)
