"""A snapshot's live records as an Arrow table: ``id, document, uri, <metadata keys>, embedding``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyarrow as pa

from chroma_frame.engine.snapshot import Snapshot
from chroma_frame.interop.columns import KeySpec, as_array, flatten, key_stats, pivot, specs_of
from chroma_frame.storage.records import METADATA

INCLUDE = {"documents": "document", "uris": "uri", "metadatas": "metadata", "embeddings": "embedding"}
_SPECS_KEY = ("chroma_frame.interop", "specs")


@dataclass(frozen=True)
class Layout:
    """The output columns of one snapshot (metadata keys typed over every live record)."""

    specs: tuple[KeySpec, ...]
    dimension: int | None

    @property
    def embedding_type(self) -> pa.DataType:
        return pa.list_(pa.float32(), self.dimension) if self.dimension else pa.list_(pa.float32())

    def default_columns(self, include: Sequence[str] | None = None) -> list[str]:
        """Column names for Chroma ``include`` items (default: everything)."""
        wanted = {INCLUDE[i] for i in (include if include is not None else INCLUDE)}
        names = ["id"] + [c for c in ("document", "uri") if c in wanted]
        if "metadata" in wanted:
            names += [s.name for s in self.specs]
        if "embedding" in wanted:
            names.append("embedding")
        return names

    def all_columns(self) -> list[str]:
        return self.default_columns() + ["metadata"]

    def field(self, name: str) -> pa.Field:
        if name in ("id", "document", "uri"):
            return pa.field(name, pa.string())
        if name == "embedding":
            return pa.field(name, self.embedding_type)
        if name == "metadata":
            return pa.field(name, METADATA)
        return pa.field(name, self.spec(name).arrow_type)

    def spec(self, name: str) -> KeySpec:
        for s in self.specs:
            if s.name == name:
                return s
        raise ValueError(f"unknown column {name!r}; the columns are {', '.join(self.all_columns())}")

    def schema(self, columns: Sequence[str]) -> pa.Schema:
        return pa.schema([self.field(c) for c in columns])

    def check(self, columns: Sequence[str]) -> list[str]:
        columns = list(columns)
        for c in columns:
            self.field(c)
        if len(set(columns)) != len(columns):
            raise ValueError(f"columns named twice in {columns}")
        return columns


def layout(snap: Snapshot) -> Layout:
    """The layout of a snapshot; the key scan is cached on the (immutable) snapshot."""
    specs = snap._cache.get(_SPECS_KEY)
    if specs is None:
        stats = live_key_stats(snap)
        specs = snap._cache[_SPECS_KEY] = tuple(specs_of(stats)) if stats is not None else ()
    return Layout(specs, snap.dimension)


def live_key_stats(snap: Snapshot) -> pa.Table | None:
    """``key_stats`` of the metadata of a snapshot's live records (None: no metadata entry);
    those of consecutive snapshots merge into the stats of their union (``merge_key_stats``)."""
    if snap.table is None or not snap.count:
        return None
    entries = flatten(as_array(snap.table.column("metadata")).take(pa.array(np.flatnonzero(snap.live))))[0]
    return key_stats(entries) if len(entries) else None


def build(snap: Snapshot, positions: np.ndarray, columns: Sequence[str], lay: Layout | None = None) -> pa.Table:
    """The ``columns`` of the records at snapshot ``positions``, in that order."""
    lay = lay or layout(snap)
    schema = lay.schema(columns)
    if snap.table is None or len(positions) == 0:
        return schema.empty_table()
    specs = [lay.spec(c) for c in columns if c not in ("id", "document", "uri", "embedding", "metadata")]
    stored = [c for c in ("id", "document", "uri", "embedding", "metadata")
              if c in columns or (c == "metadata" and specs)]
    rows = _rows(snap, positions, stored)
    arrays = {c: as_array(rows.column(c)) for c in stored}
    for spec, array in zip(specs, pivot(rows.column("metadata"), specs) if specs else ()):
        arrays[spec.name] = array
    return pa.Table.from_arrays([arrays[c] for c in columns], schema=schema)


def _rows(snap: Snapshot, positions: np.ndarray, columns: list[str]) -> pa.Table:
    """``snap.rows``, but a slice (zero copy) when ``positions`` are one run inside one segment,
    as they are in a collection that was only ever added to."""
    first, last = int(positions[0]), int(positions[-1])
    if last - first == len(positions) - 1 and (len(positions) < 2 or bool((np.diff(positions) == 1).all())):
        for seg in snap.segments:
            if seg.start <= first and last < seg.stop:
                return seg.table.select(columns).slice(first - seg.start, len(positions))
    return snap.rows(positions, columns)
