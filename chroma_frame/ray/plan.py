"""Which rows of which files make up one version of a collection, planned without reading a blockfile.

The driver of a Ray job reads the version's manifest, its remembered live mask
(``manifests/<n>.live``, :mod:`chroma_frame.engine.live_rows`) and the log entries after it (the
uncompacted tail, small by construction); each task then reads its own blockfile. On object
storage the driver thus downloads no blockfile. A :class:`Part` is one task's share: a blockfile
with its slice of the live mask and the ids the tail replaced (dropped in the task), or the
tail's live rows themselves. When that plan cannot be made cheaply (no ``.live`` file, a
``restore`` entry in the tail, a legacy manifest) the driver opens the version through the store
instead, which is always correct and reads the blockfiles where the store runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chroma_frame.engine.collection import CollectionEngine
from chroma_frame.engine.live_rows import read_live
from chroma_frame.engine.snapshot import Snapshot
from chroma_frame.engine.store import CollectionStore
from chroma_frame.storage.blockfile import read_blockfile
from chroma_frame.storage.log import Commit
from chroma_frame.storage.records import upgrade_table
from chroma_frame.storage.typed import read_typed

TAIL = "<log tail>"  # the name of the tail's part (a blockfile's is its path)


@dataclass(frozen=True)
class Part:
    """One task's rows: blockfile ``name`` (or the tail, whose rows travel in ``rows``), the live
    mask of its row versions as bits, and the ids whose versions in it are replaced."""

    name: str
    row_versions: int
    live_bits: bytes
    live_rows: int
    rows: Any = None  # the tail's live rows (a table, or a Ray object reference to one)
    drop: Any = None  # ids the tail replaced (an Arrow array, or a reference to one), or None

    def live(self) -> np.ndarray:
        return np.unpackbits(np.frombuffer(self.live_bits, np.uint8), count=self.row_versions).astype(bool)


@dataclass(frozen=True)
class Plan:
    """A version (``last_seq``) of a collection as parts, in position order (blockfiles, then the tail)."""

    version: int
    dimension: Optional[int]
    parts: tuple[Part, ...]
    fast: bool  # planned from the manifest and its live mask (False: through an opened snapshot)

    @property
    def count(self) -> int:
        return sum(p.live_rows for p in self.parts)


def plan_version(store: CollectionStore, version: Optional[int]) -> Plan:
    """The plan of ``version`` (None: the newest). ValueError as ``snapshot_at`` for a version the
    collection never had or no longer keeps; NotFoundError when it was deleted."""
    try:
        found = _fast_plan(store, version)
    except FileNotFoundError:  # a file went away meanwhile (vacuum, compaction): the store copes
        found = None
    return found if found is not None else _snapshot_plan(store, version)


def pin_version(store: CollectionStore, version: Optional[int], numbers: Optional[list[int]] = None) -> int:
    """``version`` checked as ``snapshot_at`` checks it (None: the newest), from the newest
    manifest and the log's listing (no blockfile read)."""
    numbers = store.manifests.numbers() if numbers is None else numbers
    if numbers:
        newest = store._manifest(numbers[-1])
        after = store.log.sequences(after=newest.log_upto)
        last = after[-1] if after else newest.log_upto
    else:  # a legacy manifest.json, or a deleted collection (NotFoundError)
        last = store.snapshot().last_seq
    if version is None:
        return last
    if not 0 <= version <= last:
        raise ValueError(f"Collection [{store.collection_id}] has no version {version!r}: "
                         f"its versions go up to {last}")
    return version


def _fast_plan(store: CollectionStore, version: Optional[int]) -> Optional[Plan]:
    numbers = store.manifests.numbers()
    if not numbers:
        return None  # a legacy manifest.json, or a deleted collection: the store says which
    version = pin_version(store, version, numbers)
    base = store._base_for(version, numbers)
    if base is None or any(getattr(ref, "rows", None) is None for ref in base.blockfiles):
        return None
    entries = [store.log.read(seq) for seq in range(base.log_upto + 1, version + 1)]
    commits = [Commit.from_schema(t.schema) for t in entries]
    if any(c.operation == "restore" or c.attach for c in commits):  # the state is not base + rows
        return None
    rows = sum(ref.rows for ref in base.blockfiles)  # type: ignore[attr-defined]
    live = read_live(store.storage, store.prefix, base.version, base.blockfiles, rows) if rows else np.zeros(0, bool)
    if live is None:
        return None
    dimension = base.dimension
    if dimension is None and rows:
        return None
    parts: list[Part] = []
    drop = None
    tail = None
    if entries:
        table = upgrade_table(pa.concat_tables(entries, promote_options="default"))
        tail = Snapshot.build(manifest_version=0, last_seq=version, dimension=dimension, blockfiles=[],
                              tail=[table])
        dimension = tail.dimension
        drop = pc.unique(table.column("id")) if table.num_rows else None
    start = 0
    for ref in base.blockfiles:
        parts.append(_part(ref, live[start:start + ref.rows], drop=drop))  # type: ignore[attr-defined]
        start += ref.rows  # type: ignore[attr-defined]
    if tail is not None and tail.tail is not None:
        parts.append(_tail_part(tail.tail.table, tail.live))
    return Plan(version, dimension, tuple(parts), True)


def _snapshot_plan(store: CollectionStore, version: Optional[int]) -> Plan:
    snap = store.snapshot() if version is None else store.snapshot_at(version)
    parts = [_part(cast(str, seg.name), snap.live[seg.start:seg.stop]) for seg in snap.base]
    if snap.tail is not None:
        parts.append(_tail_part(snap.tail.table, snap.live[snap.tail.start:]))
    return Plan(snap.last_seq, snap.dimension, tuple(parts), False)


def _part(name: str, live: np.ndarray, drop: Any = None) -> Part:
    return Part(name, len(live), np.packbits(live).tobytes(), int(live.sum()), drop=drop)


def _tail_part(table: pa.Table, live: np.ndarray) -> Part:
    rows = table.filter(pa.array(live))
    return Part(TAIL, rows.num_rows, np.packbits(np.ones(rows.num_rows, bool)).tobytes(), rows.num_rows, rows=rows)


def open_parts(store: CollectionStore, parts: Sequence[Part], dimension: Optional[int],
               resolve: Callable[[Any], Any] = lambda value: value) -> Snapshot:
    """A snapshot of the parts' rows alone (their live ones marked live), blockfiles read where
    this runs; the tail's part is the snapshot's tail. ``resolve`` turns the parts' references
    into values (``ray.get``)."""
    blocks, typed, lives, tail = [], {}, [], []
    for part in parts:
        if part.name == TAIL:
            table = resolve(part.rows)
            tail.append(table)
        else:
            table = read_blockfile(store.storage, store.prefix, part.name)
            typed[part.name] = read_typed(store.storage, store.prefix, part.name, table.num_rows)
            blocks.append((part.name, table))
        live = part.live()
        if part.drop is not None:
            replaced = pc.is_in(table.column("id"), value_set=resolve(part.drop))
            live &= ~np.asarray(replaced.to_numpy(zero_copy_only=False), dtype=bool)
        lives.append((part.name == TAIL, live))
    live = np.concatenate([m for is_tail, m in lives if not is_tail] + [m for is_tail, m in lives if is_tail]
                          + [np.zeros(0, bool)])
    return Snapshot.build(manifest_version=0, last_seq=0, dimension=dimension, blockfiles=blocks, tail=tail,
                          typed=typed, live=live)


def engine_of(collection: Any) -> CollectionEngine:
    """The engine of an opened collection (the frames mixin's contract, ``_engine``)."""
    return cast(CollectionEngine, collection._engine)
