"""``knn_join``: batch vector search of a Ray dataset of queries against a collection.

The driver checks the arguments and pins the version (every task searches the same state, as
``as_of`` does). Each actor of ``map_batches`` opens the collection once and answers its batches
with the engine's own search (``CollectionEngine.select`` for the filter, ``knn`` for the
nearest), so answers are those of ``collection.query`` on one machine.

``groups=g`` splits the version's blockfiles (and the log tail) into ``g`` groups of about equal
rows: a chain of ``g`` stages, each actor of stage ``i`` holding only group ``i``'s segments.
A batch carries each query's best ``k`` so far (ids and distances) from stage to stage; each
stage searches its segments and keeps the best ``k`` of both, so the last stage holds the exact
merge of the partial top-k lists. No shuffle: batches flow through the stages as a pipeline.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray

from chroma_frame import validation as v
from chroma_frame.config import DEFAULT_DATABASE, DEFAULT_TENANT, Settings
from chroma_frame.engine.collection import CollectionEngine, resolve_version
from chroma_frame.engine.dense_knn import limit_threads
from chroma_frame.filters import compile_filter, parse_filter
from chroma_frame.index.manager import kernels
from chroma_frame.interop.columns import as_array
from chroma_frame.ray.plan import Part, engine_of, open_parts, pin_version, plan_version
from chroma_frame.ray.read import share
from chroma_frame.ray.target import Target, resolve, task_cpus

HIT_COLUMNS = ("id", "distance", "rank")
_IDS, _DISTANCES = "__chroma_frame_ids", "__chroma_frame_distances"  # best so far, between group stages


def knn_join(queries: "ray.data.Dataset", path: "str | Target", collection: Optional[str] = None, k: int = 10,
             where: Optional[dict] = None, where_document: Optional[dict] = None, query_column: str = "embedding",
             as_of: Any = None, *, tenant: str = DEFAULT_TENANT, database: str = DEFAULT_DATABASE,
             settings: "Settings | Mapping[str, Any] | None" = None, batch_size: int = 1024,
             groups: Optional[int] = None, concurrency: Any = None, num_cpus: float = 1) -> "ray.data.Dataset":
    """The ``k`` nearest records of each query row, one output row per hit.

    Output: the query row's columns except ``query_column`` (so a key such as ``qid`` comes
    along), then ``id`` (string), ``distance`` (float32, in the collection's space) and ``rank``
    (int32, from 1, nearest first), as ``collection.query(...).to_arrow()`` numbers them. A query
    with fewer than ``k`` matches (a narrow filter) has fewer rows; one with none has no row.
    ``query_column``: ``fixed_size_list`` / ``list`` of floats, or a Ray tensor column.
    ``groups``: search the collection as that many groups of blockfiles, each stage holding one
    (for a collection larger than one worker's memory); None: every actor holds the whole version.
    ``concurrency`` / ``num_cpus`` / ``batch_size`` go to ``map_batches``.
    """
    target = resolve(path, collection, settings, tenant=tenant, database=database)
    engine = engine_of(target.get())
    with v.validation_context("query"):
        node = parse_filter(where, where_document)
        k = v.check_n_results(k)
    compile_filter(node)
    filters = (where, where_document) if node is not None else None
    store = engine.store
    version = pin_version(store, None if as_of is None else resolve_version(store, as_of))
    if groups is None:
        stages: list[Optional[tuple[Part, ...]]] = [None]
        dimension = None
    else:
        plan = share(plan_version(store, version))
        stages = list(split(plan.parts, groups)) or [()]
        dimension = plan.dimension
    options = {"batch_size": batch_size, "batch_format": "pyarrow", "concurrency": concurrency,
               "num_cpus": num_cpus}
    for i, parts in enumerate(stages):
        queries = queries.map_batches(
            Searcher, fn_constructor_args=(target, version, parts, dimension, k, filters, query_column,
                                           i == 0, i == len(stages) - 1), **options)
    return queries


def split(parts: Sequence[Part], groups: int) -> list[tuple[Part, ...]]:
    """``parts`` in order, cut into at most ``groups`` runs of about equal row versions."""
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"groups must be a positive number of groups, got {groups!r}")
    total = sum(p.row_versions for p in parts) or 1
    runs: list[list[Part]] = [[] for _ in range(groups)]
    done = 0
    for part in parts:
        runs[min(groups - 1, done * groups // total)].append(part)
        done += part.row_versions
    return [tuple(run) for run in runs if run]


class Searcher:
    """One actor's search: the collection at ``version`` (``parts`` None), or only ``parts`` of it."""

    def __init__(self, target: Target, version: int, parts: Optional[Sequence[Part]], dimension: Optional[int],
                 k: int, filters: Optional[tuple[Any, Any]], query_column: str, first: bool, last: bool) -> None:
        limit_threads(task_cpus())  # the CPUs Ray gave this actor, not every core of the machine
        engine = engine_of(target.get())
        if parts is None:
            engine = engine.at(version)
            self.snap = engine.snapshot()
        else:
            self.snap = open_parts(engine.store, parts, dimension, ray.get)
        self.engine: CollectionEngine = engine
        self.k, self.query_column, self.first, self.last = k, query_column, first, last
        self.candidates = None
        if filters is not None:
            compiled = compile_filter(parse_filter(*filters))
            self.candidates = np.sort(engine.select(self.snap, None, compiled))
        if engine.store.index.wanted(self.snap.base, engine.config.index):
            kernels(wait=True)  # graphs are searched as the driver's process searches them

    def __call__(self, batch: pa.Table) -> pa.Table:
        clash = [c for c in HIT_COLUMNS if c in batch.column_names]
        if self.first and clash:
            raise ValueError(f"knn_join: the queries have columns named {clash}, which the hits add; rename them")
        n = batch.num_rows
        ids, dists, counts = self._search(query_matrix(batch.column(self.query_column)))
        if not self.first:
            ids, dists, counts = _best(batch, ids, dists, counts, self.k)
            batch = batch.drop_columns([_IDS, _DISTANCES])
        if not self.last:
            offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
            return batch.append_column(_IDS, pa.ListArray.from_arrays(offsets, ids)).append_column(
                _DISTANCES, pa.ListArray.from_arrays(offsets, pa.array(dists, pa.float32())))
        rest = batch.drop_columns([self.query_column]).take(pa.array(np.repeat(np.arange(n), counts)))
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        rank = (np.arange(len(dists)) - starts + 1).astype(np.int32)
        return rest.append_column("id", ids).append_column("distance", pa.array(dists, pa.float32())).append_column(
            "rank", pa.array(rank))

    def _search(self, queries: Any) -> tuple[pa.Array, np.ndarray, np.ndarray]:
        """Per query the ``k`` nearest of this actor's records: ids and distances of every query
        one after the other, and how many each query has."""
        snap = self.snap
        queries = v.check_query_engine(None, queries, self.k, snap.dimension)
        positions, dists = self.engine.knn(snap, queries, self.k, self.candidates)
        counts = np.array([len(p) for p in positions], dtype=np.int64)
        flat = np.concatenate(positions) if positions else np.zeros(0, np.int64)
        ids = as_array(snap.rows(flat, ["id"]).column("id")) if len(flat) else pa.array([], pa.string())
        return ids, (np.concatenate(dists) if dists else np.zeros(0, np.float32)).astype(np.float32), counts


def _best(batch: pa.Table, ids: pa.Array, dists: np.ndarray, counts: np.ndarray,
          k: int) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Per query the ``k`` nearest of the hits carried in ``batch`` and the new ones (on equal
    distances, the carried first: earlier blockfiles, as one machine orders them)."""
    carried = as_array(batch.column(_IDS))
    old_counts = np.asarray(pc.list_value_length(carried), dtype=np.int64)
    n = len(counts)
    query = np.concatenate([np.repeat(np.arange(n), old_counts), np.repeat(np.arange(n), counts)])
    dist = np.concatenate([np.asarray(pc.list_flatten(as_array(batch.column(_DISTANCES)))), dists])
    order = np.lexsort((np.arange(len(query)), dist, query))
    both = pa.concat_arrays([pc.list_flatten(carried), ids])
    ranked = query[order]
    rank = np.arange(len(order)) - np.searchsorted(ranked, ranked)
    keep = order[rank < k]
    return both.take(pa.array(keep)), dist[keep], np.bincount(query[keep], minlength=n)


def query_matrix(column: pa.ChunkedArray | pa.Array) -> Any:
    """The query vectors of a column: ``fixed_size_list`` or ``list`` of numbers, or a Ray
    tensor extension column, as a (rows, dimension) float32 matrix (ragged rows: a list of
    arrays, which the engine's checks refuse as Chroma does)."""
    array = as_array(column)
    if array.null_count:
        raise ValueError("knn_join: a query row has no vector (null in the query column)")
    if isinstance(array.type, pa.BaseExtensionType):  # Ray's tensors
        return np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float32)
    if pa.types.is_fixed_size_list(array.type):
        flat = array.flatten().to_numpy(zero_copy_only=False)
        return np.asarray(flat, dtype=np.float32).reshape(len(array), array.type.list_size)
    lengths = np.asarray(pc.list_value_length(array), dtype=np.int64)
    flat = np.asarray(array.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
    if len(lengths) and (lengths == lengths[0]).all():
        return flat.reshape(len(array), int(lengths[0]))
    return np.split(flat, np.cumsum(lengths)[:-1])
