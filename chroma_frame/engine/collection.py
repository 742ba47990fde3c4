"""The engine facade of one collection: every surface reads and writes through it.

``Collection`` (the Python API), ``interop`` (frames, SQL views, ingest, Parquet), the Search
executor (``search``) and the server use a :class:`CollectionEngine` and an
``Embedder`` (``chroma_frame.embedder``), never the store, the index manager or the kernels
directly. Index policy (which blockfiles get a graph, when builds are asked for, whether the
compiled search is loaded) lives here and below (``index.manager``); the API handle holds none.

Positions are snapshot positions (``Snapshot``): callers take one ``snapshot()`` and pass it to
each read so that a verb sees one consistent state.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Optional, cast

import numpy as np
import pyarrow as pa

from chroma_frame.engine import duck, typed_index
from chroma_frame.engine.codes import scan_ready
from chroma_frame.engine.dense_knn import GraphSearch, search
from chroma_frame.engine.filter_cache import cached
from chroma_frame.engine.filtered_knn import filtered_search
from chroma_frame.engine.snapshot import Snapshot
from chroma_frame.engine.sparse_knn import sparse_knn
from chroma_frame.engine.store import CollectionStore
from chroma_frame.errors import InvalidArgumentError
from chroma_frame.filters import CompiledFilter
from chroma_frame.index.manager import kernels, kernels_failed
from chroma_frame.index.params import IndexParams

Plan = Callable[[Snapshot, int], Optional[pa.Table]]


@dataclass(frozen=True)
class EngineConfig:
    """What the engine needs from a collection's configuration and schema."""

    index: IndexParams = field(default_factory=IndexParams)
    sparse: Mapping[str, bool] = field(default_factory=dict)  # sparse-indexed metadata key -> BM25 (idf) scoring

    @property
    def space(self) -> str:
        return self.index.space

    @classmethod
    def from_configuration(cls, configuration: dict, sparse: Optional[Mapping[str, bool]] = None) -> "EngineConfig":
        return cls(IndexParams.from_configuration(configuration), dict(sparse or {}))


_BARE_SCAN_ROWS = 1 << 16  # blockfiles without a graph holding this many rows are ranked on 8-bit codes
_SCAN_MIN_SHARE = 0.05
"""Filters (or ``ids``) passing fewer than this share of the live records are always answered by
an exact scan of their matches: a graph walk restricted to few allowed nodes loses recall."""
_CROSSOVER = 125.0
"""Past the share above, the planner scans a filter's ``m`` matches exactly while
``m <= sqrt(_CROSSOVER * ef * live)`` and walks the graphs with them as the allowed nodes beyond:
a scan costs ~``m``, a walk ~``ef * live / m`` (the nodes it visits to meet ``ef`` allowed ones).
Measured at 200k (ef 100): the walk overtook the 8-bit scan between 20% and 35% of the rows;
the rule puts the switch at 25% there, 11% at 1M and 5% (the floor) from 5M rows."""
_LIMIT_DEAD_ROWS = 100_000  # past this many dead row versions a LIMIT is not pushed into SQL
_INDEX_LIMIT_ROWS = 100_000  # a limit over more matches than this: DuckDB's LIMIT stops early


def _typed_select(snap: Snapshot, compiled: CompiledFilter, limit: Optional[int]) -> Optional[np.ndarray]:
    """Live positions matching the filter through the typed columns, in insertion order (the
    first ``limit``), or None when the filter needs the long form.

    The sorted column indexes (``typed_index``) answer at a cost that follows the match count;
    DuckDB answers what they do not cover, and a ``limit`` over many matches (its ``LIMIT``
    stops early). There, SQL gives (a superset of) the first ``limit + dead`` matches by rowid,
    dead row versions included; at most ``dead`` of them are not live, so their live ones are
    the first ``limit`` live matches (or all of them, when SQL found fewer)."""
    node = cast(Any, compiled.node)
    positions, pushed = None, None
    if limit is None or (typed_index.estimate(snap, node) or _INDEX_LIMIT_ROWS + 1) <= _INDEX_LIMIT_ROWS:
        positions = typed_index.typed_matches(snap, node)
    if positions is None:
        if limit is not None:
            dead = snap.dead_rows
            pushed = None if dead > _LIMIT_DEAD_ROWS else limit + dead
        positions = duck.typed_matches(snap, node, pushed)
    if positions is None:
        return None
    rowids = snap.column_numpy("rowid")[positions]
    if len(rowids) > 1 and not bool((rowids[1:] > rowids[:-1]).all()):  # rowids mostly ascend with position
        positions = positions[np.argsort(rowids, kind="stable")]
    if pushed is not None:
        positions = positions[:pushed]
    return positions[snap.live[positions]][:limit]


class CollectionEngine:
    """Reads and writes of one collection's store under one :class:`EngineConfig`."""

    __slots__ = ("store", "config")

    def __init__(self, store: CollectionStore, config: EngineConfig) -> None:
        self.store = store
        self.config = config

    # -- state ---------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        return self.store.snapshot()

    def at(self, as_of: Any) -> "CollectionEngine":
        """This engine reading the collection as of a past version (an int: a version number
        from ``versions()``; a ``datetime`` or seconds since the epoch as a float: the version
        current at that moment); None: this engine."""
        if as_of is None:
            return self
        return PastEngine(self.store, self.config, self.store.snapshot_at(resolve_version(self.store, as_of)))

    # -- writes --------------------------------------------------------------------------
    def write(self, plan: Plan, *, request_graphs: bool = True, bulk: bool = False,
              operation: str = "write") -> Snapshot:
        """Commit ``plan(snapshot, seq)`` (a log entry, or None for nothing) as one version,
        recorded as ``operation``. ``request_graphs=False`` defers asking for graphs to
        :meth:`request_graphs`; ``bulk`` compacts only once the log holds a full blockfile
        (both: an ingest)."""
        snap = self.store.write(plan, bulk=bulk, operation=operation)
        if request_graphs:
            self.request_graphs(snap)
        return snap

    def compact(self, *, merge_open: bool = False) -> Snapshot:
        """Fold the log into blockfiles now (``merge_open``: with every blockfile that is not full)."""
        snap = self.store.compact(merge_open=merge_open)
        self.request_graphs(snap)
        return snap

    def request_graphs(self, snap: Snapshot) -> None:
        """Ask for the graphs of new blockfiles (a write may have compacted)."""
        self.store.index.note_blockfiles(snap.manifest_version, snap.base, self.config.index)

    # -- reads ---------------------------------------------------------------------------
    @staticmethod
    def select(snap: Snapshot, ids: Optional[list[str]], compiled: Optional[CompiledFilter],
               limit: Optional[int] = None) -> np.ndarray:
        """Live positions matching ``ids`` and the filter, in insertion order (the first ``limit``)."""
        ordered = snap.live_positions
        if len(ordered) == 0 or (ids is None and compiled is None):
            return ordered[:limit]
        if compiled is not None and compiled.node is not None:
            pushed = None if ids is not None else limit
            found = cached(snap, ("typed", compiled.sql, repr(compiled.params), pushed),
                           lambda: _typed_select(snap, compiled, pushed))
            if found is not None:
                if ids is not None:
                    found = found[np.isin(found, snap.positions_of(ids))]
                return found[:limit]
        mask = np.zeros(len(snap.live), dtype=bool)
        mask[ordered] = True
        if ids is not None:
            hit = np.zeros(len(snap.live), dtype=bool)
            hit[snap.positions_of(ids)] = True
            mask &= hit
        if compiled is not None:
            rowids = duck.matching_rowids(snap, compiled.sql, compiled.params, compiled.keys)
            hit = np.zeros(len(snap.live), dtype=bool)
            hit[snap.positions_for_rowids(rowids)] = True
            mask &= hit
        return ordered[mask[ordered]][:limit]

    def knn(self, snap: Snapshot, queries: np.ndarray, k: int,
            candidates: Optional[np.ndarray] = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per query: the ``k`` nearest live positions (among the sorted ``candidates`` when
        given) and their distances in the collection's space, nearest first."""
        if snap.dimension is None:  # nothing was ever added
            return [np.zeros(0, np.int64) for _ in queries], [np.zeros(0, np.float32) for _ in queries]
        graphs = self._graph_search(snap)
        live = len(snap.live) - snap.dead_rows  # snap.count sums the mask at every call
        bare = self._unindexed(snap, graphs) if candidates is None and np.isfinite(queries).all() else None
        if candidates is not None and (graphs is None or graphs.kernels is None
                                       or self._scan_wins(len(candidates), live, graphs.ef)):
            result = filtered_search(snap, queries, k, self.config.space, candidates)
        elif bare is not None:  # blockfiles without their graph yet (a build running): ranked on 8-bit codes
            result = filtered_search(snap, queries, k, self.config.space, bare)
            if len(bare) < live:
                rest = np.setdiff1d(snap.live_positions, bare, assume_unique=True)
                result = _best(result, search(snap, queries, k, self.config.space, rest, graphs), k)
        else:
            result = search(snap, queries, k, self.config.space, candidates, graphs)
        if graphs is not None and graphs.kernels is None:
            kernels()  # start loading the graph search for the next queries, now that this one has answered
        return result

    @staticmethod
    def _unindexed(snap: Snapshot, graphs: Optional[GraphSearch]) -> Optional[np.ndarray]:
        """Live positions of the blockfiles searched without a graph, when they are many (else
        None): until a build finishes they are scanned, and a scan of 8-bit codes in place
        (``filtered_search``) costs a fraction of the float32 one."""
        graph_of = graphs.graph_of if graphs is not None and graphs.kernels is not None else (lambda seg: None)
        spans = [(seg.start, seg.stop) for seg in snap.base if graph_of(seg) is None]
        if sum(stop - start for start, stop in spans) < _BARE_SCAN_ROWS or not scan_ready():
            return None  # (before the scan kernels load, the plain scan: it does not gather the rows)
        live = snap.live_positions
        return np.concatenate([live[np.searchsorted(live, a):np.searchsorted(live, b)] for a, b in spans])

    @staticmethod
    def _scan_wins(matches: int, live: int, ef: int) -> bool:
        """Whether an exact scan of a filter's matches beats a graph walk allowed only them."""
        return matches < _SCAN_MIN_SHARE * live or matches * matches <= _CROSSOVER * max(ef, 1) * live

    def sparse_knn(self, snap: Snapshot, key: str, query: Any, k: int,
                   candidates: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` live positions by dot product with the sparse ``query`` on metadata ``key``
        (``1 - dot``, best first); Chroma's error when ``key`` has no sparse index."""
        if key not in self.config.sparse:
            raise InvalidArgumentError(
                f"Cannot filter using metadata key '{key}' with type 'SparseVector' because indexing is disabled"
            )
        positions, scores = sparse_knn(snap, key, query, k, candidates, bool(self.config.sparse[key]),
                                       self.store.sparse_index)
        return np.asarray(positions, np.int64), np.asarray(scores, np.float32)

    @staticmethod
    def explain(compiled: Optional[CompiledFilter]) -> str:
        """The DuckDB SQL a compiled filter runs as, with its bound parameters."""
        if compiled is None:
            return "-- no filter: every record"
        params = "\n".join(f"-- ${i} = {p!r}" for i, p in enumerate(compiled.params, 1))
        return f"{duck.filter_sql(compiled.sql)}\n{params}".rstrip()

    # -- index ---------------------------------------------------------------------------
    def _graph_search(self, snap: Snapshot) -> Optional[GraphSearch]:
        params = self.config.index
        index = self.store.index
        if not index.wanted(snap.base, params):
            return None
        dimension = snap.dimension

        def graph_of(seg):
            return None if seg.name is None else index.graph(seg.name, seg.table, dimension, params)

        return GraphSearch(graph_of, kernels(start=False), params.ef_search, params.epsilon)

    def index_status(self) -> dict[str, Any]:
        """How many records are searched through a graph, how many exactly, and failed builds."""
        snap = self.snapshot()
        graphs = self._graph_search(snap)
        index, params = self.store.index, self.config.index
        indexed, waiting, failed = 0, 0, []
        wanted = {id(seg) for seg in index.wanted(snap.base, params)}
        for seg in snap.base:
            if graphs is not None and graphs.kernels is not None and graphs.graph_of(seg) is not None:
                indexed += seg.table.num_rows
            elif id(seg) in wanted:
                error = index.failure(cast(str, seg.name), params.space)  # a blockfile: named
                if error is not None:
                    failed.append({"blockfile": str(seg.name), "space": params.space, "error": error})
                else:
                    waiting += seg.table.num_rows
        total = sum(seg.table.num_rows for seg in snap.segments)
        status = {"indexed_rows": indexed, "exact_rows": total - indexed, "waiting_rows": waiting,
                  "kernels_ready": kernels() is not None, "failed": failed, "builders_started": index.builds_started}
        if kernels_failed():
            status["kernels_error"] = kernels_failed()
        return status

    def wait_for_index(self, timeout: float = 600.0) -> bool:
        """Block until every large blockfile is searched through its graph: True, or False when
        ``timeout`` passes first or a graph's build has failed. With automatic builds off
        (``index_build_policy="manual"``) waiting asks the background worker for the build."""
        deadline = time.monotonic() + timeout
        index = self.store.index
        params = self.config.index
        while True:
            snap = self.snapshot()
            big = index.wanted(snap.base, params)
            ready = kernels(wait=True, timeout=max(0.0, deadline - time.monotonic())) is not None or not big
            dimension = cast(int, snap.dimension)  # set once anything is written
            if ready and all(index.graph(seg.name, seg.table, dimension, params) for seg in big):
                return True
            if any(index.failure(seg.name, params.space) for seg in big) or (big and kernels_failed()):
                return False  # a failed build, or no search kernel: graphs cannot be used
            if not index.auto_build:
                index.request_build(params, force=True)
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            index.wait_for_builder(min(left, 1.0))
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    def build_index(self, progress: Optional[Callable[[int, int], None]] = None) -> int:
        """Build every missing graph now, in the calling thread (the build's kernels use every
        core), and load them; returns how many were built. A build this process's background
        worker had started for the collection is abandoned first; one another process is running
        is waited for. ``progress(rows_done, rows_total)`` reports the work."""
        from chroma_frame.index.build import build_missing

        index, params = self.store.index, self.config.index
        index.cancel_build()
        built = build_missing(self.store.storage, self.store.collection_id, params, retry_failed=True,
                              progress=progress, wait_lock=BUILD_LOCK_WAIT)
        kernels(wait=True)
        index.forget_missing()
        return built


BUILD_LOCK_WAIT = 3600.0  # seconds build_index waits for another process's builder of the collection


def _best(a: tuple[list[np.ndarray], list[np.ndarray]], b: tuple[list[np.ndarray], list[np.ndarray]],
          k: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per query, the ``k`` nearest of two disjoint answers (ties: the lower position first)."""
    positions, dists = [], []
    for pa_, da, pb, db in zip(a[0], a[1], b[0], b[1]):
        p, d = np.concatenate([pa_, pb]), np.concatenate([da, db])
        order = np.lexsort((p, d))[:k]
        positions.append(p[order])
        dists.append(d[order])
    return positions, dists


class PastEngine(CollectionEngine):
    """A collection's engine frozen at one past version: reads see it, writes are refused."""

    __slots__ = ("_past",)

    def __init__(self, store: CollectionStore, config: EngineConfig, past: Snapshot) -> None:
        super().__init__(store, config)
        self._past = past

    def snapshot(self) -> Snapshot:
        return self._past

    def write(self, plan: Plan, *, request_graphs: bool = True, bulk: bool = False,
              operation: str = "write") -> Snapshot:
        raise InvalidArgumentError("a collection read as_of a past version cannot be written; "
                                   "use collection.restore(version) to make that version current")


def resolve_version(store: CollectionStore, as_of: Any) -> int:
    """The version number ``as_of`` names: an int as is; a datetime (naive: UTC) or a float of
    seconds since the epoch, the newest version committed at or before that moment."""
    if isinstance(as_of, bool):
        raise InvalidArgumentError(f"as_of must be a version number or a timestamp, got {as_of!r}")
    if isinstance(as_of, (int, np.integer)):
        return int(as_of)
    if isinstance(as_of, datetime):
        moment = (as_of if as_of.tzinfo is not None else as_of.replace(tzinfo=timezone.utc)).timestamp()
    elif isinstance(as_of, float):
        moment = as_of
    else:
        raise InvalidArgumentError(f"as_of must be a version number or a timestamp, got {as_of!r}")
    from chroma_frame.engine.history import versions

    kept = versions(store)
    before = [v.version for v in kept if v.time is not None and v.time <= moment]
    if not before:
        oldest = kept[0] if kept else None
        when = datetime.fromtimestamp(oldest.time, timezone.utc).isoformat() if oldest and oldest.time else "?"
        raise InvalidArgumentError(f"as_of {as_of!r} is before the oldest version kept ({when})")
    return before[-1]
