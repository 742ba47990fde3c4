"""``read``: a collection's live records as a Ray dataset, one read task per blockfile.

The driver plans the version (:mod:`chroma_frame.ray.plan`: manifest, live mask, log tail; no
blockfile) and checks the arguments; each task reads its blockfile, keeps its live rows, applies
the filter with the engine's own ``select`` and builds the columns ``to_arrow`` gives. The
metadata columns' types are those of the whole collection, so when metadata columns are asked
for, a first pass of tasks collects each blockfile's key statistics (``interop.columns.key_stats``)
and the driver merges them: the same layout ``to_arrow`` computes over every live record.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any, Iterator, Mapping, Optional, Sequence

import pyarrow as pa
import ray
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from chroma_frame import validation as v
from chroma_frame.config import DEFAULT_DATABASE, DEFAULT_TENANT, Settings
from chroma_frame.engine.collection import CollectionEngine, resolve_version
from chroma_frame.filters import compile_filter, parse_filter
from chroma_frame.interop import table as tb
from chroma_frame.interop.columns import CORE_COLUMNS, merge_key_stats, specs_of
from chroma_frame.interop.stream import stream
from chroma_frame.ray.plan import TAIL, Part, Plan, engine_of, open_parts, plan_version
from chroma_frame.ray.target import Target, resolve

BATCH_ROWS = 65_536  # rows per block a read task yields


def read(path: "str | Target", collection: Optional[str] = None, columns: Optional[Sequence[str]] = None,
         where: Optional[dict] = None, where_document: Optional[dict] = None, as_of: Any = None, *,
         tenant: str = DEFAULT_TENANT, database: str = DEFAULT_DATABASE,
         settings: "Settings | Mapping[str, Any] | None" = None) -> "ray.data.Dataset":
    """The collection's live records (``where`` / ``where_document`` applied) as a Ray dataset.

    Rows and column types are those of ``collection.to_arrow(where, where_document,
    columns=columns, as_of=as_of)``; the order differs: each blockfile's records come in
    insertion order, blockfiles in manifest order, then the records of the uncompacted log
    (Ray keeps that order only with ``DataContext.execution_options.preserve_order``). Errors
    (unknown collection, bad filter, unknown column, unknown version) are raised here, before
    any task runs.
    """
    target = resolve(path, collection, settings, tenant=tenant, database=database)
    engine = engine_of(target.get())
    with v.validation_context("get"):
        node = parse_filter(where, where_document)
    compile_filter(node)
    version = None if as_of is None else resolve_version(engine.store, as_of)
    plan = share(plan_version(engine.store, version))
    wanted = [columns] if isinstance(columns, str) else columns
    needs_keys = wanted is None or any(c not in CORE_COLUMNS and c != "metadata" for c in wanted)
    lay = layout(target, plan) if needs_keys else tb.Layout((), plan.dimension)
    names = lay.check(wanted) if wanted is not None else lay.default_columns()
    source = CollectionSource(target, plan, lay, names, (where, where_document) if node is not None else None)
    return ray.data.read_datasource(source)


def share(plan: Plan) -> Plan:
    """The plan with its in-memory values (the tail's rows, the ids it replaced) in Ray's object
    store, so that tasks fetch them instead of carrying them."""
    refs: dict[int, Any] = {}

    def put(value: Any) -> Any:
        if value is None:
            return None
        if id(value) not in refs:
            refs[id(value)] = ray.put(value)
        return refs[id(value)]

    return replace(plan, parts=tuple(replace(p, rows=put(p.rows), drop=put(p.drop)) for p in plan.parts))


def layout(target: Target, plan: Plan) -> tb.Layout:
    """The output columns of the plan's records: their metadata keys' statistics, collected per
    blockfile by Ray tasks and merged in order (as ``interop.table.layout`` over them all)."""
    stats = ray.get([_key_stats.remote(target, part, plan.dimension) for part in plan.parts if part.live_rows])
    found = [s for s in stats if s is not None and s.num_rows]
    return tb.Layout(tuple(specs_of(merge_key_stats(found))) if found else (), plan.dimension)


@ray.remote
def _key_stats(target: Target, part: Part, dimension: Optional[int]) -> Optional[pa.Table]:
    return tb.live_key_stats(open_parts(engine_of(target.get()).store, [part], dimension, ray.get))


class CollectionSource(Datasource):
    """A Ray Datasource over one planned version of a collection: a read task per part."""

    def __init__(self, target: Target, plan: Plan, lay: tb.Layout, columns: list[str],
                 filters: Optional[tuple[Any, Any]] = None) -> None:
        super().__init__()
        self.target, self.plan, self.layout, self.columns, self.filters = target, plan, lay, columns, filters

    def get_name(self) -> str:
        return f"ChromaFrame({self.target.collection})"

    def estimate_inmemory_data_size(self) -> Optional[int]:
        width = 4 * (self.plan.dimension or 0) if "embedding" in self.columns else 0
        return self.plan.count * (width + 64 * len(self.columns))

    def get_read_tasks(self, parallelism: int, per_task_row_limit: Optional[int] = None,
                       data_context: Any = None) -> list[ReadTask]:
        schema = self.layout.schema(self.columns)
        parts: list[Optional[Part]] = [p for p in self.plan.parts if p.live_rows] or [None]  # empty: one empty block
        tasks = []
        for part in parts:
            rows = part.live_rows if part is not None and part.drop is None and self.filters is None else None
            files = (part.name,) if part is not None and part.name != TAIL else None
            meta = BlockMetadata(num_rows=rows, size_bytes=None, input_files=files, exec_stats=None)
            args = (self.target, part, self.plan.dimension, self.layout, self.columns, self.filters)
            tasks.append(ReadTask(partial(_read_part, *args), meta, schema=schema,
                                  per_task_row_limit=per_task_row_limit))
        return tasks


def _read_part(target: Target, part: Optional[Part], dimension: Optional[int], lay: tb.Layout,
               columns: list[str], filters: Optional[tuple[Any, Any]]) -> Iterator[pa.Table]:
    """The blocks of one part: its live records passing the filter, in insertion order."""
    empty = True
    if part is not None:
        snap = open_parts(engine_of(target.get()).store, [part], dimension, ray.get)
        positions = snap.live_positions
        if filters is not None:
            positions = CollectionEngine.select(snap, None, compile_filter(parse_filter(*filters)))
        for table in stream(snap, lay, positions, columns, first=BATCH_ROWS, largest=BATCH_ROWS):
            empty = False
            yield table
    if empty:
        yield lay.schema(columns).empty_table()


__all__ = ["read", "CollectionSource", "layout"]

