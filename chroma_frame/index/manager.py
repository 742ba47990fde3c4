"""Which segments of a collection have a usable graph, loading them, and asking for builds.

Queries never wait here: a graph is used only once it is built, loaded and the search kernel is
compiled (in a background thread); until then the engine scans that segment exactly.
"""

from __future__ import annotations

import logging
import threading
from typing import Optional

import numpy as np

from chroma_frame.index.graph import CorruptIndex, Graph, index_path, load_graph
from chroma_frame.index.params import IndexParams
from chroma_frame.storage.fs import Storage

log = logging.getLogger(__name__)

_kernels = None
_kernels_state = "cold"  # cold -> loading -> ready | failed
_kernels_lock = threading.Lock()


def _load_kernels() -> None:
    global _kernels, _kernels_state
    try:
        from chroma_frame.index import kernels

        data = np.eye(4, dtype=np.float32)
        indptr = np.array([0, 1, 2, 3, 4], dtype=np.int64)
        indices = np.array([1, 2, 3, 0], dtype=np.int32)
        kernels.search_batch(0, data, np.ones(4, np.float32), indptr, indices, np.arange(4, dtype=np.int64),
                             data[:1], 1, 4, 0.0, np.ones(4, np.uint8), False)
        kernels.fused_dots(data, data[:2], np.empty((2, 4), np.float32))
        _kernels, _kernels_state = kernels, "ready"
    except Exception:  # pragma: no cover - numba missing or broken: stay exact
        log.exception("graph search kernel unavailable; queries scan exactly")
        _kernels_state = "failed"


def kernels(wait: bool = False, start: bool = True):
    """The compiled search module, or None while it is loading (loading starts on first call).

    ``start=False`` only looks: the query path peeks, and starts the load after it has answered,
    so that importing numba never competes with a query for the interpreter.
    """
    global _kernels_state
    with _kernels_lock:
        if _kernels_state == "cold" and (start or wait):
            _kernels_state = "loading"
            thread = threading.Thread(target=_load_kernels, name="chroma-frame-kernels", daemon=True)
            thread.start()
            _kernels_thread[0] = thread
    if wait and _kernels_thread[0] is not None:
        _kernels_thread[0].join()
    return _kernels


_kernels_thread: list[Optional[threading.Thread]] = [None]


class IndexManager:
    """Graphs of one collection's blockfiles."""

    def __init__(self, storage: Storage, collection_id: str) -> None:
        self.storage = storage
        self.collection_id = collection_id
        self.prefix = f"collections/{collection_id}"
        self._graphs: dict[tuple[str, str], Graph] = {}
        self._checked: dict[tuple[str, str], float] = {}
        self._builder = None
        self._mutex = threading.Lock()
        self.auto_build = True

    def graph(self, block_rel: str, rows: int, dimension: int, params: IndexParams) -> Optional[Graph]:
        """The loaded graph of a blockfile, or None (not built yet, too small, or unusable)."""
        if rows < params.min_rows:
            return None
        key = (block_rel, params.space)
        graph = self._graphs.get(key)
        if graph is not None:
            return graph
        import time

        now = time.monotonic()
        if now - self._checked.get(key, -1e9) < 0.5:
            return None  # looked for it a moment ago
        self._checked[key] = now
        try:
            graph = load_graph(self.storage, self.prefix, block_rel, rows=rows, dimension=dimension, space=params.space)
        except CorruptIndex as exc:
            log.warning("index of %s/%s is unusable (%s): rebuilding it", self.prefix, block_rel, exc)
            self.storage.delete_file(f"{self.prefix}/{index_path(block_rel, params.space)}")
            self.request_build(params)
            return None
        if graph is None:
            self.request_build(params)
            return None
        self._graphs[key] = graph
        return graph

    def request_build(self, params: IndexParams) -> None:
        """Start a builder process for this collection unless one of ours is still running."""
        if not self.auto_build or not self.storage.is_local:
            return
        from chroma_frame.index.build import spawn_builder

        with self._mutex:
            if self._builder is not None and self._builder.poll() is None:
                return
            self._builder = spawn_builder(self.storage.root, self.collection_id, params)

    def wait_for_builder(self, timeout: Optional[float] = None) -> None:
        """Block until the builder this process started has finished (for tests and benchmarks)."""
        if self._builder is not None:
            self._builder.wait(timeout)

    def forget(self, keep: set[str]) -> None:
        self._graphs = {k: g for k, g in self._graphs.items() if k[0] in keep}
