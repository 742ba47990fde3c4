"""A segment's search graph as plain arrays, persisted in a layout that is memory-mapped, not decoded.

The graph is in the blockfile's own row order: node ``i`` is row ``i`` of the blockfile. Only the
rows in ``nodes`` (the blockfile's put rows; tombstones have no embedding) take part: the others
have no edges, are never a neighbour and never a pivot, so a search never reaches them.

File layout (format 3; the name still ends in ``.graph.npz`` for the tools that look for it):
a header (``b"CFGRAPH3"``, rows, dimension, the space's name, then the name, dtype and length of
each array: :data:`LAYOUT`), the arrays, each at a 64-byte boundary, then the integrity seal
(:mod:`chroma_frame.storage.integrity`). Arrays a reader does not know are ignored.
Opening one maps it (copy-on-write, so the arrays are ordinary writable numpy arrays that are never
written): nothing is decompressed or copied, so opening does not grow with the collection.

Every array is checked against its blockfile before the search kernel (which does no bounds
checks) may see it, and the seal's CRC-32C before that: a file that is truncated, damaged or does
not fit its blockfile raises :class:`CorruptIndex`. Both checks read the whole file, so a pass is
remembered next to it (:func:`~chroma_frame.storage.integrity.verified_before`) and skipped while
the file is unchanged. A format 2 file (a sealed ``.npz``) is converted in place on first open,
not rebuilt; a format 1 file (unsealed) is rebuilt.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pyarrow as pa

from chroma_frame.storage.fs import Storage
from chroma_frame.storage.integrity import (
    SEAL,
    SEAL_SIZE,
    CorruptFileError,
    is_sealed,
    remember_verified,
    seal,
    unseal,
    verified_before,
)
from chroma_frame.storage.records import PUT

FORMAT = 3  # 3: memory-mappable raw arrays; 2: sealed npz (converted on open); 1: unsealed npz (rebuilt)
MAGIC = b"CFGRAPH3"
HEADER = struct.Struct("<8sqq16sq")  # magic, rows, dimension, space, number of arrays
ENTRY = struct.Struct("<16s8sq")  # per array: name, numpy dtype (e.g. "<i8"), length
ALIGN = 64
# The arrays of a format 3 file and their types; a reader ignores arrays it does not know, so
# arrays can be added without a new format.
LAYOUT = {"indptr": np.int64, "indices": np.int32, "pivots": np.int64, "nodes": np.int64}
UPPER = {"upper": np.int64, "upper_indptr": np.int64, "upper_indices": np.int32}  # optional: the upper layer
_ARRAYS = {"indptr": np.int64, "indices": np.int32, "pivots": np.int64, "nodes": np.int64, "meta": np.int64,
           "space": np.uint8}  # of a format 2 file


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
    # their positions in ``upper``; the pivots are upper nodes. Empty (a graph converted from
    # format 2): no upper layer, the search enters through the pivots alone.
    upper: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    upper_indptr: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    upper_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))

    def node_rows(self) -> np.ndarray:
        return np.arange(self.rows, dtype=np.int64) if self.nodes is None else self.nodes

    def to_bytes(self) -> bytes:
        """The file's bytes (format 3, sealed)."""
        arrays = {"indptr": self.indptr, "indices": self.indices, "pivots": self.pivots, "nodes": self.node_rows(),
                  "upper": self.upper, "upper_indptr": self.upper_indptr, "upper_indices": self.upper_indices}
        payload = pack({name: np.asarray(arrays[name], dtype) for name, dtype in {**LAYOUT, **UPPER}.items()},
                       rows=self.rows, dimension=self.dimension, space=self.space)
        return payload + seal(payload)

    @classmethod
    def from_bytes(cls, data: bytes | np.ndarray, *, rows: int, dimension: int, space: str,
                   nodes: Optional[np.ndarray] = None, path: str = "graph",
                   checked: bool = False) -> "Graph":
        """Parse and check a graph file (bytes, or a uint8 array mapping it); ``nodes``, when
        given, are the rows it must cover. ``checked``: its checksum and arrays passed these
        checks before, unchanged since (only the header is checked against the blockfile)."""
        if not is_sealed(data):
            if _is_format_1(bytes(data)):
                raise OutdatedIndex("written by an older chroma-frame (format 1): rebuilt in the current format")
            raise CorruptIndex("no checksum trailer (truncated or overwritten)")
        if not checked:
            try:
                unseal(pa.py_buffer(data), path)
            except CorruptFileError as exc:
                raise CorruptIndex(exc.reason) from None
        payload = data[: len(data) - SEAL_SIZE]
        if bytes(payload[:2]) == b"PK":
            graph = _from_npz(bytes(payload))
        else:
            graph = unpack(payload)
        if graph.rows != rows or graph.dimension != dimension or graph.space != space:
            raise CorruptIndex(f"index does not match its blockfile ({graph.rows}x{graph.dimension} {graph.space}, "
                               f"expected {rows}x{dimension} {space})")
        problem = None if checked else graph.problem(nodes)
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


def pack(arrays: dict[str, np.ndarray], *, rows: int, dimension: int, space: str) -> bytes:
    """A format 3 payload (no seal) holding ``arrays`` as they are (name, dtype and length in its header)."""
    name = space.encode()
    if len(name) > 16:
        raise ValueError(f"space name too long: {space!r}")
    parts = [HEADER.pack(MAGIC, rows, dimension, name, len(arrays))]
    parts += [ENTRY.pack(key.encode(), array.dtype.str.encode(), len(array)) for key, array in arrays.items()]
    size = HEADER.size + ENTRY.size * len(arrays)
    for array in arrays.values():
        parts.append(b"\0" * (-size % ALIGN))
        size += -size % ALIGN
        parts.append(np.ascontiguousarray(array).tobytes())
        size += array.nbytes
    return b"".join(parts)


def unpack(payload: bytes | np.ndarray) -> "Graph":
    """The graph of a format 3 payload; its arrays are views of the payload (zero copy)."""
    # a plain ndarray (not np.memmap) over the mapping: what the search kernel is compiled for
    view = np.asarray(payload) if isinstance(payload, np.ndarray) else np.frombuffer(payload, np.uint8)
    if len(view) < HEADER.size:
        raise CorruptIndex("truncated header")
    magic, rows, dimension, name, count = HEADER.unpack(view[: HEADER.size].tobytes())
    if magic != MAGIC:
        raise CorruptIndex(f"unknown graph format {magic!r}")
    offset = HEADER.size + ENTRY.size * count
    if min(rows, dimension, count) < 0 or offset > len(view):
        raise CorruptIndex("a header that does not fit the file")
    arrays: dict[str, np.ndarray] = {}
    for entry in range(HEADER.size, HEADER.size + ENTRY.size * count, ENTRY.size):
        key, code, length = ENTRY.unpack(view[entry : entry + ENTRY.size].tobytes())
        try:
            dtype = np.dtype(code.rstrip(b"\0").decode())
        except (TypeError, ValueError, UnicodeDecodeError):
            raise CorruptIndex(f"array {key!r} of unknown type {code!r}") from None
        offset += -offset % ALIGN
        end = offset + length * dtype.itemsize
        if length < 0 or end > len(view) or dtype.hasobject:
            raise CorruptIndex(f"array {key!r} does not fit the file ({len(view)} bytes, {length} x {dtype})")
        arrays[key.rstrip(b"\0").decode("utf-8", "replace")] = view[offset:end].view(dtype)
        offset = end
    if offset != len(view):
        raise CorruptIndex(f"{len(view)} bytes, the header says {offset}")
    for key in LAYOUT:
        if key not in arrays:
            raise CorruptIndex(f"array {key} missing")
    present = [key for key in UPPER if key in arrays]
    if present and len(present) != len(UPPER):
        raise CorruptIndex(f"upper layer arrays missing: {sorted(set(UPPER) - set(present))}")
    for key, want in {**LAYOUT, **UPPER}.items():
        if key in arrays and arrays[key].dtype != np.dtype(want).newbyteorder("<"):
            raise CorruptIndex(f"array {key} is {arrays[key].dtype}, expected {np.dtype(want)}")
    space = name.rstrip(b"\0").decode("utf-8", "replace")
    upper = [arrays[key] for key in UPPER] if present else []
    return Graph(arrays["indptr"], arrays["indices"], arrays["pivots"], space, rows, dimension, arrays["nodes"],
                 *upper)


def _from_npz(payload: bytes) -> "Graph":
    """The graph of a format 2 file (a sealed ``.npz``)."""
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as z:
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
    if fmt != 2:
        raise CorruptIndex(f"format {fmt}, expected 2 or {FORMAT}")
    space = bytes(arrays["space"]).decode("utf-8", "replace")
    return Graph(arrays["indptr"], arrays["indices"], arrays["pivots"], space, n, dim, arrays["nodes"])


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
               nodes: Optional[np.ndarray] = None, recheck: bool = False) -> Graph | None:
    """The segment's graph, None when it is not built yet; raises CorruptIndex.

    ``nodes`` (the blockfile's :func:`graph_nodes`) makes the check complete: without it the
    arrays are still checked to be safe to search, and the pass is not remembered. A format 2
    file is rewritten in format 3 (same graph, best effort: a read-only folder keeps the old file).
    ``recheck`` (the doctor): check in full even if a pass is remembered, and write nothing."""
    rel = f"{prefix}/{index_path(block_rel, space)}"
    try:
        data = _map(storage, rel)
    except FileNotFoundError:
        return None
    except OSError as exc:  # a folder in the way, an I/O error: unusable, never a crash
        raise CorruptIndex(f"unreadable index: {exc}") from exc
    token = _seal_token(data)
    checked = not recheck and nodes is not None and token is not None and verified_before(storage, rel, token)
    graph = Graph.from_bytes(data, rows=rows, dimension=dimension, space=space, nodes=nodes,
                             path=storage.path(rel), checked=checked)
    if recheck:
        return graph
    if token is not None and bytes(data[:2]) == b"PK":
        try:
            save_graph(storage, prefix, block_rel, graph)  # format 2 -> 3: the same arrays, not a rebuild
            return load_graph(storage, prefix, block_rel, rows=rows, dimension=dimension, space=space, nodes=nodes)
        except OSError:
            return graph
    if not checked and nodes is not None and token is not None:
        remember_verified(storage, rel, token)
    return graph


def _map(storage: Storage, rel: str) -> bytes | np.ndarray:
    """The file's bytes: a private (copy-on-write) mapping of a local file, else read whole."""
    if not storage.is_local:
        return storage.read_bytes(rel)
    path = storage.path(rel)
    with open(path, "rb") as f:  # FileNotFoundError / IsADirectoryError as for a read
        if not os.fstat(f.fileno()).st_size:
            return b""
        return np.memmap(f, dtype=np.uint8, mode="c")


def _seal_token(data: bytes | np.ndarray) -> Optional[str]:
    """The checksum the file's seal records (what a remembered check vouches for), or None."""
    if not is_sealed(data):
        return None
    return f"{SEAL.unpack(bytes(data[-SEAL_SIZE:]))[1]:08x}"
