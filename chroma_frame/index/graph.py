"""A segment's search graph as plain arrays, persisted as a sealed ``.npz`` (read with allow_pickle=False).

The graph is in the blockfile's own row order: node ``i`` is row ``i`` of the blockfile. Only the
rows in ``nodes`` (the blockfile's put rows; tombstones have no embedding) take part: the others
have no edges, are never a neighbour and never a pivot, so a search never reaches them.

The file ends in an integrity seal (:mod:`chroma_frame.storage.integrity`), and every array is
checked against its blockfile before the search kernel (which does no bounds checks) may see it:
a file that is truncated, damaged, from an older format or does not fit its blockfile raises
:class:`CorruptIndex`.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pyarrow as pa

from chroma_frame.storage.fs import Storage
from chroma_frame.storage.integrity import CorruptFileError, is_sealed, seal, unseal
from chroma_frame.storage.records import PUT

FORMAT = 3  # 3: with an upper layer; 2 (sealed, with ``nodes``), 1 (unsealed, every row a node) are rebuilt
_ARRAYS = {"indptr": np.int64, "indices": np.int32, "pivots": np.int64, "nodes": np.int64, "meta": np.int64,
           "space": np.uint8, "upper": np.int64, "upper_indptr": np.int64, "upper_indices": np.int32}


class CorruptIndex(Exception):
    """An index file that cannot be used; the caller rebuilds it."""

    outdated = False  # True: an intact file of an older format (rebuilt, but nothing was damaged)


class OutdatedIndex(CorruptIndex):
    """A graph file written by an older chroma-frame (format 1, unsealed): rebuilt, not damaged."""

    outdated = True


def _is_format_1(data: bytes) -> bool:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return int(z["meta"][0]) == 1
    except Exception:  # noqa: BLE001 - anything unreadable is damage, not an older format
        return False


@dataclass(frozen=True)
class Graph:
    indptr: np.ndarray  # int64 (rows + 1), CSR over the blockfile's rows
    indices: np.ndarray  # int32 (nnz), neighbours of each node (blockfile rows)
    pivots: np.ndarray  # int64: candidate entry points (blockfile rows)
    space: str
    rows: int  # rows of the blockfile
    dimension: int
    nodes: Optional[np.ndarray] = None  # int64, strictly increasing: the rows the graph covers (None: all)
    # the upper layer (HNSW's): a sample of the nodes (int64 rows, increasing) with a CSR graph over
    # their positions in ``upper``; the pivots are upper nodes. Empty: no upper layer.
    upper: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    upper_indptr: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    upper_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))

    def node_rows(self) -> np.ndarray:
        return np.arange(self.rows, dtype=np.int64) if self.nodes is None else self.nodes

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, indptr=np.asarray(self.indptr, np.int64), indices=np.asarray(self.indices, np.int32),
                 pivots=np.asarray(self.pivots, np.int64), nodes=np.asarray(self.node_rows(), np.int64),
                 meta=np.array([FORMAT, self.rows, self.dimension], dtype=np.int64),
                 space=np.frombuffer(self.space.encode(), dtype=np.uint8), upper=np.asarray(self.upper, np.int64),
                 upper_indptr=np.asarray(self.upper_indptr, np.int64),
                 upper_indices=np.asarray(self.upper_indices, np.int32))
        payload = buf.getvalue()
        return payload + seal(payload)

    @classmethod
    def from_bytes(cls, data: bytes, *, rows: int, dimension: int, space: str,
                   nodes: Optional[np.ndarray] = None, path: str = "graph") -> "Graph":
        """Parse and check a graph file; ``nodes``, when given, are the rows it must cover."""
        if not is_sealed(data):
            if _is_format_1(data):
                raise OutdatedIndex("written by an older chroma-frame (format 1): rebuilt in the current format")
            raise CorruptIndex("no checksum trailer (truncated or overwritten)")
        try:
            payload = unseal(data, path)
        except CorruptFileError as exc:
            raise CorruptIndex(exc.reason) from None
        try:
            with np.load(io.BytesIO(payload), allow_pickle=False) as z:
                if "meta" in z.files and len(z["meta"]) and 1 < int(z["meta"][0]) < FORMAT:
                    raise OutdatedIndex(f"written by an older chroma-frame (format {int(z['meta'][0])}): "
                                        "rebuilt in the current format")
                missing = set(_ARRAYS) - set(z.files)
                if missing:
                    raise CorruptIndex(f"arrays missing: {sorted(missing)}")
                arrays = {name: z[name] for name in _ARRAYS}
        except CorruptIndex:
            raise
        except (zipfile.BadZipFile, ValueError, KeyError, OSError, EOFError, RuntimeError) as exc:
            raise CorruptIndex(f"unreadable index: {exc}") from exc
        for name, dtype in _ARRAYS.items():
            if arrays[name].dtype != np.dtype(dtype) or arrays[name].ndim != 1:
                raise CorruptIndex(f"array {name} is {arrays[name].dtype}{list(arrays[name].shape)}, "
                                   f"expected 1-d {np.dtype(dtype)}")
        if len(arrays["meta"]) != 3:
            raise CorruptIndex("meta has the wrong length")
        fmt, n, dim = (int(x) for x in arrays["meta"])
        graph_space = bytes(arrays["space"]).decode("utf-8", "replace")
        if fmt != FORMAT:
            raise CorruptIndex(f"format {fmt}, expected {FORMAT}")
        if n != rows or dim != dimension or graph_space != space:
            raise CorruptIndex(f"index does not match its blockfile ({n}x{dim} {graph_space}, "
                               f"expected {rows}x{dimension} {space})")
        graph = cls(arrays["indptr"], arrays["indices"], arrays["pivots"], graph_space, n, dim, arrays["nodes"],
                    arrays["upper"], arrays["upper_indptr"], arrays["upper_indices"])
        problem = graph.problem(nodes)
        if problem:
            raise CorruptIndex(f"index arrays are inconsistent: {problem}")
        return graph

    def problem(self, expected_nodes: Optional[np.ndarray] = None) -> Optional[str]:
        """Why the arrays could make the search kernel read out of bounds or walk the wrong rows
        (None when they are sound)."""
        n, indptr, indices, pivots, nodes = self.rows, self.indptr, self.indices, self.pivots, self.node_rows()
        if n <= 0:
            return "no rows"
        if len(nodes) == 0 or nodes[0] < 0 or nodes[-1] >= n or (len(nodes) > 1 and np.any(np.diff(nodes) <= 0)):
            return "nodes are not strictly increasing rows of the blockfile"
        if expected_nodes is not None and not np.array_equal(nodes, expected_nodes):
            return "nodes are not the blockfile's put rows"
        if len(indptr) != n + 1 or indptr[0] != 0 or indptr[-1] != len(indices) or np.any(np.diff(indptr) < 0):
            return "indptr is not a CSR offset array over the rows"
        if len(indices) and (indices.min() < 0 or indices.max() >= n):
            return "a neighbour is out of range"
        if len(pivots) == 0 or pivots.min() < 0 or pivots.max() >= n:
            return "a pivot is out of range"
        problem = self._upper_problem()
        if problem:
            return problem
        if len(nodes) != n:
            member = np.zeros(n, dtype=bool)
            member[nodes] = True
            degrees = np.diff(indptr)
            if np.any(degrees[~member]) or not member[indices].all() or not member[pivots].all() \
                    or not member[self.upper].all():
                return "an edge or pivot touches a row that is not a node"
        return None

    def _upper_problem(self) -> Optional[str]:
        upper, indptr, indices = self.upper, self.upper_indptr, self.upper_indices
        m = len(upper)
        if m and (upper[0] < 0 or upper[-1] >= self.rows or np.any(np.diff(upper) <= 0)):
            return "upper nodes are not strictly increasing rows"
        if len(indptr) != m + 1 or indptr[0] != 0 or indptr[-1] != len(indices) or np.any(np.diff(indptr) < 0):
            return "upper_indptr is not a CSR offset array over the upper nodes"
        if len(indices) and (indices.min() < 0 or indices.max() >= m):
            return "an upper neighbour is out of range"
        if m and not np.isin(self.pivots, upper).all():
            return "a pivot is not an upper node"
        return None


def graph_nodes(table: pa.Table) -> np.ndarray:
    """The rows of a blockfile a graph covers: its put rows (tombstones carry no embedding)."""
    ops = np.asarray(table.column("op").to_numpy())
    return np.flatnonzero(ops == PUT).astype(np.int64)


def index_path(block_rel: str, space: str) -> str:
    """``blocks/<uuid>.arrow`` -> ``blocks/<uuid>.<space>.graph.npz``."""
    return str(block_rel).rsplit(".", 1)[0] + f".{space}.graph.npz"


def save_graph(storage: Storage, prefix: str, block_rel: str, graph: Graph) -> None:
    storage.write_atomic(f"{prefix}/{index_path(block_rel, graph.space)}", graph.to_bytes())


def load_graph(storage: Storage, prefix: str, block_rel: str, *, rows: int, dimension: int, space: str,
               nodes: Optional[np.ndarray] = None) -> Graph | None:
    """The segment's graph, None when it is not built yet; raises CorruptIndex.

    ``nodes`` (the blockfile's :func:`graph_nodes`) makes the check complete: without it the
    arrays are still checked to be safe to search."""
    rel = f"{prefix}/{index_path(block_rel, space)}"
    try:
        data = storage.read_bytes(rel)
    except FileNotFoundError:
        return None
    except OSError as exc:  # a folder in the way, an I/O error: unusable, never a crash
        raise CorruptIndex(f"unreadable index: {exc}") from exc
    return Graph.from_bytes(data, rows=rows, dimension=dimension, space=space, nodes=nodes, path=storage.path(rel))
