"""Which segments of a collection have a usable graph, loading them, and asking for builds.

Queries never wait here: a graph is used only once it is built (by the process's background
worker, :mod:`.worker`), loaded and the search kernel is loaded (in a background thread); until
then the engine scans that segment exactly.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Optional

import numpy as np
import pyarrow as pa

from chroma_frame.index.failures import failure_of, log_path, read_marker, write_marker
from chroma_frame.index.graph import CorruptIndex, Graph, graph_nodes, index_path, load_graph
from chroma_frame.index.params import IndexParams
from chroma_frame.index.worker import BuildTicket, worker
from chroma_frame.storage.fs import Storage

log = logging.getLogger(__name__)

_kernels = None
_kernels_state = "cold"  # cold -> loading -> ready | failed
_kernels_lock = threading.Lock()


def _load_kernels() -> None:
    global _kernels, _kernels_state
    try:
        from chroma_frame.index import kernels

        kernels.warm_up()
        _kernels, _kernels_state = kernels, "ready"
    except Exception as exc:  # numba missing or broken: stay exact
        log.exception("graph search kernel unavailable; queries scan exactly")
        _kernels_error[0] = f"{type(exc).__name__}: {exc}"
        _kernels_state = "failed"


def kernels(wait: bool = False, start: bool = True, timeout: Optional[float] = None):
    """The compiled search module, or None while it is loading (loading starts on first call).

    ``start=False`` only looks: the query path peeks, and starts the load after it has answered,
    so that importing numba never competes with a query for the interpreter. ``wait`` blocks
    until it is loaded, at most ``timeout`` seconds when given.
    """
    global _kernels_state, _kernels_retries
    with _kernels_lock:
        if _kernels_state == "failed" and (start or wait) and _kernels_retries < MAX_KERNEL_RETRIES:
            # A failed load is tried again: numba's first compile can lose a race with the main
            # thread (IPython's display hook writes builtins while numba iterates over them).
            _kernels_retries += 1
            _kernels_state = "cold"
        if _kernels_state == "cold" and (start or wait):
            _kernels_state = "loading"
            thread = threading.Thread(target=_load_kernels, name="chroma-frame-kernels", daemon=True)
            thread.start()
            _kernels_thread[0] = thread
    if wait and _kernels_thread[0] is not None:
        _kernels_thread[0].join(timeout)
    return _kernels


_kernels_thread: list[Optional[threading.Thread]] = [None]
_kernels_error: list[Optional[str]] = [None]
_kernels_retries = 0
MAX_KERNEL_RETRIES = 2


def kernels_failed() -> Optional[str]:
    """Why the search kernel could not be loaded, once every retry failed (else None)."""
    return _kernels_error[0] if _kernels_state == "failed" and _kernels_retries >= MAX_KERNEL_RETRIES else None


MAX_BACKOFF = 60.0  # seconds between builds asked for graphs that stay missing


class IndexManager:
    """Graphs of one collection's blockfiles."""

    def __init__(self, storage: Storage, collection_id: str) -> None:
        self.storage = storage
        self.collection_id = collection_id
        self.prefix = f"collections/{collection_id}"
        self._graphs: dict[tuple[str, str], Graph] = {}
        self._checked: dict[tuple[str, str], float] = {}
        self._nodes: dict[str, np.ndarray] = {}  # blockfile -> its put rows (blockfiles never change)
        self._failed: dict[tuple[str, str], str] = {}  # failures seen (and warned about) by this process
        self._corrupt: dict[tuple[str, str], int] = {}  # unusable graph files seen, per graph
        self._builder: Optional[BuildTicket] = None
        self._mutex = threading.Lock()
        self._looking = threading.Lock()
        self._next_spawn = 0.0
        self._backoff = 1.0
        self.builds_started = 0
        self.auto_build = True  # False: Settings(index_build_policy="manual"); builds only when asked
        self._noted_version: Optional[int] = None  # the last manifest version whose blockfiles were looked at

    # -- policy: which blockfiles are searched through a graph --------------------------------
    def wanted(self, segments, params: IndexParams) -> list:
        """The segments (``.name``, ``.table``) big enough to be searched through a graph."""
        return [seg for seg in segments if params.wants_graph(len(self.nodes(seg.name, seg.table)))]

    def note_blockfiles(self, version: int, segments, params: IndexParams) -> None:
        """After a write: ask for the graphs of new blockfiles (a compaction may have run)."""
        if segments and version != self._noted_version:
            self._noted_version = version
            if self.wanted(segments, params):
                self.request_build(params, new_blockfiles=True)

    def nodes(self, block_rel: str, table: pa.Table) -> np.ndarray:
        """The rows of a blockfile its graph covers (its put rows)."""
        nodes = self._nodes.get(block_rel)
        if nodes is None:
            nodes = self._nodes[block_rel] = graph_nodes(table)
        return nodes

    def graph(self, block_rel: str, table: pa.Table, dimension: int, params: IndexParams) -> Optional[Graph]:
        """The loaded graph of a blockfile, or None (not built yet, too small, failed, or unusable)."""
        key = (block_rel, params.space)
        graph = self._graphs.get(key)
        if graph is not None:
            return graph
        nodes = self.nodes(block_rel, table)
        if not params.wants_graph(len(nodes)):
            return None
        if not self._looking.acquire(blocking=False):
            return None  # another query is looking (two would count one damaged file twice)
        try:
            return self._look(key, block_rel, table, nodes, dimension, params)
        finally:
            self._looking.release()

    def _look(self, key: tuple[str, str], block_rel: str, table: pa.Table, nodes: np.ndarray, dimension: int,
              params: IndexParams) -> Optional[Graph]:
        now = time.monotonic()
        if now - self._checked.get(key, -1e9) < (5.0 if key in self._failed else 0.5):
            return self._graphs.get(key)  # looked for it a moment ago
        self._checked[key] = now
        try:
            graph = load_graph(self.storage, self.prefix, block_rel, rows=table.num_rows, dimension=dimension,
                               space=params.space, nodes=nodes)
            problem = None
        except CorruptIndex as exc:
            graph, problem = None, str(exc)
        if graph is not None:
            self._failed.pop(key, None)
            self._corrupt.pop(key, None)
            self._backoff = 1.0
            self._graphs[key] = graph
            return graph
        failure = failure_of(read_marker(self.storage, self.prefix, block_rel, params.space))
        if failure is None and problem is not None:
            failure = self._discard(key, block_rel, params.space, problem)
        if failure is not None:
            self._note_failure(key, failure)
            return None
        self._failed.pop(key, None)
        self.request_build(params)
        return None

    def _discard(self, key: tuple[str, str], block_rel: str, space: str, problem: str) -> Optional[str]:
        """Delete an unusable graph file so that it is rebuilt; the second time this happens to the
        same graph it is recorded as a failure instead (returned), so a bad build never loops."""
        seen = self._corrupt[key] = self._corrupt.get(key, 0) + 1
        try:
            self.storage.delete_file(f"{self.prefix}/{index_path(block_rel, space)}")
        except Exception:  # pragma: no cover - the next look finds it again
            pass
        if seen < 2:
            log.warning("index of %s/%s is unusable (%s): rebuilding it", self.prefix, block_rel, problem)
            return None
        failure = f"the rebuilt graph is unusable too: {problem}"
        try:
            write_marker(self.storage, self.prefix, block_rel, space, attempts=seen, error=failure)
        except Exception:  # pragma: no cover - a read-only disk: this process still stops asking
            pass
        return failure

    def _note_failure(self, key: tuple[str, str], failure: str) -> None:
        if self._failed.get(key) != failure:
            log.warning("the %s graph of %s/%s could not be built (%s); it is scanned exactly, details in %s",
                        key[1], self.prefix, key[0], failure, log_path(self.storage.root, self.prefix))
        self._failed[key] = failure

    def failure(self, block_rel: str, space: str) -> Optional[str]:
        """Why the graph of a blockfile is not built and will not be retried automatically, or None."""
        return failure_of(read_marker(self.storage, self.prefix, block_rel, space))

    def request_build(self, params: IndexParams, *, new_blockfiles: bool = False, force: bool = False) -> None:
        """Queue a build of this collection's missing graphs on the process's background worker,
        unless one is queued or running already (``force``: even with automatic builds off).

        For graphs that stay missing (another process's builder holds the collection, a build
        was abandoned) the requests are spaced out, 1 s then doubling up to a minute; new
        blockfiles get one at once."""
        if not (self.auto_build or force):
            return
        with self._mutex:
            now = time.monotonic()
            if new_blockfiles or force:
                self._backoff, self._next_spawn = 1.0, now
            if self._builder is not None and self._builder.poll() is None:
                return
            if now < self._next_spawn:
                return
            self._next_spawn = now + self._backoff
            self._backoff = min(self._backoff * 2, MAX_BACKOFF)
            self._builder = worker().submit(self.storage, self.collection_id, params)
            self.builds_started += 1

    def wait_for_builder(self, timeout: Optional[float] = None) -> bool:
        """Block until the build this process asked for has finished (for tests and benchmarks);
        False if it is still running after ``timeout`` seconds."""
        builder = self._builder
        return builder is None or builder.wait(timeout)

    def cancel_build(self) -> None:
        """Abandon the background build this process asked for (``build_index`` builds now)."""
        builder = self._builder
        if builder is not None and builder.poll() is None:
            worker().discard(builder)
            builder.wait()

    def forget_missing(self) -> None:
        """Look for graphs again at the next query (after an explicit build)."""
        self._checked.clear()
        self._failed.clear()

    def forget(self, keep: set[str]) -> None:
        self._graphs = {k: g for k, g in self._graphs.items() if k[0] in keep}
        self._nodes = {k: n for k, n in self._nodes.items() if k in keep}
        self._failed = {k: f for k, f in self._failed.items() if k[0] in keep}
        self._corrupt = {k: c for k, c in self._corrupt.items() if k[0] in keep}
        self._checked = {k: t for k, t in self._checked.items() if k[0] in keep}
