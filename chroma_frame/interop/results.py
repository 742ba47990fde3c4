"""``get`` / ``query`` / ``search`` results: Chroma's dicts, shaped Arrow-first, that also convert to frames.

Chroma's names ``GetResult`` / ``QueryResult`` are its TypedDicts (``chroma_frame.api.types``); the
dicts ``get`` / ``query`` return are their subclasses here, ``FramedGetResult`` /
``FramedQueryResult``, which also wrap any such dict (from ``HttpClient`` or ``chromadb``).

Shaping (:func:`get_result`, :func:`query_result`): one take of the snapshot's rows for the whole
call (every query's hits together) gives one Arrow table, ``id`` and the included stored columns;
Chroma's lists (one per query) are decoded from its columns and cut. The frame adds ``query``,
``rank``, ``distance`` and ``embedding`` to that table when asked for (the query path does not pay).

``FramedGetResult(...).to_arrow()``: one row per record (``id, document, uri, <metadata keys>,
embedding``, the fields that were included). ``FramedQueryResult(...).to_arrow()``: one row per
(query, hit): ``query`` (index of the query, from 0), ``rank`` (from 1), ``id``, ``distance``, then
the included fields. ``SearchResult(...).to_arrow()``: one row per (search, hit), see the class.
Metadata keys are typed as in ``collection.to_arrow`` (docs/dataframes.md). A result the library
shaped converts from the rows it was taken from, while its entries are the lists made from them; one
built from a plain dict, or whose entries were replaced since (the server replaces ``metadatas``),
converts from the dict. (Lists or metadata dicts edited in place are not noticed.)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from itertools import accumulate, pairwise
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chroma_frame.engine.snapshot import Snapshot
from chroma_frame.interop.columns import RESERVED, flatten, key_specs, pivot
from chroma_frame.interop.table import INCLUDE
from chroma_frame.storage.records import decode_metadata, encode_metadata, record_schema

if TYPE_CHECKING:
    import pandas
    import polars

# The stored columns a result may include (in frame order) -> Chroma's name for the field.
_STORED = {INCLUDE[field]: field for field in ("documents", "uris", "metadatas")}
_RECORD = record_schema(1)


# -- snapshot rows -> Arrow ---------------------------------------------------------------------

def take_rows(snap: Snapshot, positions: np.ndarray, include: Sequence[str]) -> pa.Table:
    """``id`` and the stored columns of the ``include``d fields at ``positions``, in that order (one take)."""
    # "data" brings the metadatas too, as in Chroma's embedded client (its Rust core reads "data" so)
    names = ["id"] + [column for column, field in _STORED.items()
                      if field in include or (field == "metadatas" and "data" in include)]
    if snap.table is None or len(positions) == 0:
        return pa.schema([_RECORD.field(name) for name in names]).empty_table()
    return snap.rows(positions, names)


def decode(rows: pa.Table) -> dict[str, list]:
    """Chroma's Python lists (``ids``, ``documents``, ``uris``, ``metadatas``) of the columns in ``rows``."""
    out: dict[str, list] = {"ids": rows.column("id").to_pylist()}
    for column, field in _STORED.items():
        if column in rows.column_names:
            values = rows.column(column)
            if values.null_count == len(values):
                out[field] = [None] * len(values)
            else:
                out[field] = decode_metadata(values) if column == "metadata" else values.to_pylist()
    return out


def _embedding_column(rows: Any) -> pa.Array:
    """``fixed_size_list<float32>`` from equal-length rows (zero copy from a float32 matrix), else ``list``."""
    matrix = np.asarray(rows, dtype=np.float32) if len(rows) else np.zeros((0, 0), np.float32)
    if matrix.ndim != 2 or matrix.shape[1] == 0:
        return pa.array([list(map(float, r)) for r in rows], pa.list_(pa.float32()))
    return pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), matrix.shape[1])


def _hit_columns(counts: Sequence[int], first: str) -> dict[str, pa.Array]:
    """``first`` (the query's or search's index, from 0) and ``rank`` (from 1), one row per hit."""
    n = np.asarray(counts, dtype=np.int64)
    starts = np.repeat(np.cumsum(n) - n, n)
    return {first: pa.array(np.repeat(np.arange(len(n), dtype=np.int32), n)),
            "rank": pa.array((np.arange(int(n.sum()), dtype=np.int64) - starts + 1).astype(np.int32))}


def _without_nan_records(metadata: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``metadata`` with null for a record holding a NaN float, which Chroma reads as no metadata."""
    entries, parents = flatten(metadata)
    nan = pc.is_nan(entries.field("float_value"))
    if not pc.any(nan).as_py():
        return metadata
    bad = np.zeros(len(metadata), dtype=bool)
    bad[parents[np.asarray(nan.fill_null(False).to_numpy(zero_copy_only=False))]] = True
    return metadata.take(pa.array(np.arange(len(metadata)), mask=bad))


def _frame(columns: Mapping[str, Any], reserved: frozenset) -> pa.Table:
    """``columns`` with the long-form ``metadata`` as one column per key (named clear of ``reserved``)."""
    out: dict[str, Any] = {}
    for name, column in columns.items():
        if name != "metadata":
            out[name] = column
            continue
        metadata = _without_nan_records(column)
        specs = key_specs(flatten(metadata)[0], reserved)
        for spec, array in zip(specs, pivot(metadata, specs)):
            out[spec.name] = array
    return pa.table(out)


def _record_columns(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The stored-column form of Chroma's per-record lists (``documents``, ``uris``, ``metadatas``, ``embeddings``)."""
    cols: dict[str, Any] = {}
    if fields.get("documents") is not None:
        cols["document"] = pa.array(fields["documents"], pa.string())
    if fields.get("uris") is not None:
        cols["uri"] = pa.array(fields["uris"], pa.string())
    if fields.get("metadatas") is not None:
        cols["metadata"] = encode_metadata([m or None for m in fields["metadatas"]])
    if fields.get("embeddings") is not None:
        cols["embedding"] = _embedding_column(fields["embeddings"])
    return cols


def _cut(values: list, bounds: list[int]) -> list[list]:
    return [values[a:b] for a, b in pairwise(bounds)]


@dataclass(frozen=True, eq=False)
class _Shape:
    """What the library shaped a result from: the taken rows, then per hit its distance and embedding,
    and the hits per query (None for ``get``). The frame's columns are assembled from it on demand."""

    rows: pa.Table
    counts: Optional[list[int]] = None
    distances: Optional[np.ndarray] = None
    embeddings: Optional[np.ndarray] = None

    def columns(self) -> dict[str, Any]:
        columns = _hit_columns(self.counts, "query") if self.counts is not None else {}
        columns["id"] = self.rows.column("id")
        if self.distances is not None:
            columns["distance"] = pa.array(self.distances.astype(np.float32, copy=False))
        columns.update({name: self.rows.column(name) for name in self.rows.column_names if name != "id"})
        if self.embeddings is not None:
            columns["embedding"] = _embedding_column(self.embeddings)
        return columns


# -- shaping ------------------------------------------------------------------------------------

def get_result(snap: Snapshot, positions: np.ndarray, include: Sequence[str]) -> "FramedGetResult":
    """Chroma's ``GetResult`` for the records at snapshot ``positions``."""
    positions = np.asarray(positions, dtype=np.int64)
    rows = take_rows(snap, positions, include)
    fields = decode(rows)
    emb = snap.embeddings(positions) if "embeddings" in include else None
    result = FramedGetResult({
        "ids": fields["ids"],
        "embeddings": emb,
        "documents": fields.get("documents"),
        "uris": fields.get("uris"),
        "included": list(include),
        "data": None,
        "metadatas": fields.get("metadatas"),
    })
    result._shaped(_Shape(rows, embeddings=emb))
    return result


def query_result(
    snap: Snapshot, positions: list[np.ndarray], dists: list[np.ndarray], include: Sequence[str]
) -> "FramedQueryResult":
    """Chroma's ``QueryResult``: per query, the hits at snapshot ``positions`` with their ``dists``."""
    counts = [len(p) for p in positions]
    bounds = list(accumulate(counts, initial=0))
    flat = np.concatenate(positions).astype(np.int64, copy=False) if positions else np.zeros(0, np.int64)
    rows = take_rows(snap, flat, include)
    fields = {name: _cut(values, bounds) for name, values in decode(rows).items()}
    matrix = snap.embeddings(flat) if "embeddings" in include else None
    distances = None
    if "distances" in include:
        distances = np.concatenate(dists) if dists else np.zeros(0, np.float32)
    result = FramedQueryResult({
        "ids": fields["ids"],
        "embeddings": None if matrix is None else [matrix[a:b] for a, b in pairwise(bounds)],
        "documents": fields.get("documents"),
        "uris": fields.get("uris"),
        "data": None,
        "metadatas": fields.get("metadatas"),
        "distances": None if distances is None else _cut(distances.tolist(), bounds),
        "included": list(include),
    })
    result._shaped(_Shape(rows, counts, distances, matrix))
    return result


# -- the result classes -------------------------------------------------------------------------

class _Frames(dict):
    """A result dict that converts to frames."""

    _title = ""  # the result's name in Jupyter: Chroma's
    _FIELDS: tuple[str, ...] = ()  # the dict entries ``to_arrow`` reads
    _shape: Optional[_Shape] = None  # what the library shaped this result from
    _made: tuple = ()  # the entries it made from that, to tell when one was replaced

    def _shaped(self, shape: _Shape) -> None:
        self._shape = shape
        self._made = tuple(self.get(name) for name in self._FIELDS)

    def _shaped_columns(self) -> Optional[dict[str, Any]]:
        """The frame's columns from the shape while the dict holds the entries made from it, else None."""
        if self._shape is None or any(self.get(n) is not v for n, v in zip(self._FIELDS, self._made)):
            return None
        return self._shape.columns()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        source = args[0] if len(args) == 1 and not kwargs else None
        if type(source) is type(self) and source._shape is not None:  # a copy keeps the shape
            self._shape, self._made = source._shape, source._made

    def to_arrow(self) -> pa.Table:  # pragma: no cover - overridden
        raise NotImplementedError

    def to_polars(self) -> "polars.DataFrame":
        import polars as pl

        frame = pl.from_arrow(self.to_arrow())
        assert isinstance(frame, pl.DataFrame)  # a Table always gives a DataFrame
        return frame

    def to_pandas(self, **kwargs: Any) -> "pandas.DataFrame":
        return self.to_arrow().to_pandas(**kwargs)

    def _repr_html_(self) -> str:
        from chroma_frame.interop.html import table_html

        table = self.to_arrow()
        return table_html(table, title=f"{self._title}: {table.num_rows} rows", max_rows=20)


class FramedGetResult(_Frames):
    """Chroma's ``GetResult`` dict, with ``to_arrow`` / ``to_polars`` / ``to_pandas``."""

    _title = "GetResult"
    _FIELDS = ("ids", "documents", "uris", "metadatas", "embeddings")

    def to_arrow(self) -> pa.Table:
        columns = self._shaped_columns()
        if columns is None:
            columns = {"id": pa.array(list(self.get("ids") or []), pa.string()), **_record_columns(self)}
        return _frame(columns, RESERVED)


class FramedQueryResult(_Frames):
    """Chroma's ``QueryResult`` dict; frames have one row per (query, hit)."""

    _title = "QueryResult"
    _FIELDS = ("ids", "documents", "uris", "metadatas", "embeddings", "distances")

    def to_arrow(self) -> pa.Table:
        columns = self._shaped_columns()
        if columns is None:
            columns = self._columns_from_dict()
        return _frame(columns, RESERVED | {"query", "rank", "distance"})

    def _columns_from_dict(self) -> dict[str, Any]:
        per_query: Sequence[list] = self.get("ids") or []
        columns = _hit_columns([len(ids) for ids in per_query], "query")
        columns["id"] = pa.array([i for ids in per_query for i in ids], pa.string())
        if self.get("distances") is not None:
            columns["distance"] = pa.array([d for part in self["distances"] for d in part], pa.float32())
        flat: dict[str, Any] = {}
        for name in ("documents", "uris", "metadatas"):
            if self.get(name) is not None:
                flat[name] = [x for part in self[name] for x in part]
        if self.get("embeddings") is not None:
            parts = [np.asarray(e, dtype=np.float32) for e in self["embeddings"] if len(e)]
            flat["embeddings"] = np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
        columns.update(_record_columns(flat))
        return columns


class SearchResult(_Frames):
    """Chroma's ``SearchResult`` dict (``ids``, ``documents``, ``embeddings``, ``metadatas``,
    ``scores``, ``select``: one list per search); ``rows()`` gives one dict per hit.

    Frames have one row per (search, hit): ``search`` (index of the search, from 0), ``rank``
    (from 1), ``id``, ``score`` (when any search selected it), then the selected fields.
    """

    _title = "SearchResult"

    def rows(self) -> list[list[dict[str, Any]]]:
        """Per search, ``{"id", "document"?, "embedding"?, "metadata"?, "score"?}`` per hit
        (a field only when it has a value, as in chromadb)."""
        ids = self.get("ids") or []
        out = []
        for i, search_ids in enumerate(ids):
            columns = {name: self._column(name, i) for name in ("document", "embedding", "metadata", "score")}
            out.append([{"id": id_, **{name: values[j] for name, values in columns.items()
                                       if values is not None and values[j] is not None}}
                        for j, id_ in enumerate(search_ids)])
        return out

    def _column(self, name: str, search: int) -> Any:
        per_search = self.get(f"{name}s") or []
        return per_search[search] if search < len(per_search) else None

    def to_arrow(self) -> pa.Table:
        per_search: Sequence[list] = self.get("ids") or []
        lengths = [len(ids) for ids in per_search]
        columns = _hit_columns(lengths, "search")
        columns["id"] = pa.array([i for ids in per_search for i in ids], pa.string())
        flat = {name: self._flat(name, lengths) for name in ("documents", "metadatas", "scores", "embeddings")}
        if flat["scores"] is not None:
            columns["score"] = pa.array(flat["scores"], pa.float32())
        columns.update(_record_columns({"documents": flat["documents"], "metadatas": flat["metadatas"]}))
        if flat["embeddings"] is not None:
            columns["embedding"] = pa.array(flat["embeddings"], pa.list_(pa.float32()))
        return _frame(columns, RESERVED | {"search", "rank", "score"})

    def _flat(self, name: str, lengths: list[int]) -> Optional[list]:
        """One column over all searches (None for searches that did not select it)."""
        per_search = self.get(name)
        if per_search is None or all(part is None for part in per_search):
            return None
        return [x for part, n in zip(per_search, lengths) for x in (part if part is not None else [None] * n)]


_RENAMED = {"GetResult": FramedGetResult, "QueryResult": FramedQueryResult}


def __getattr__(name: str) -> Any:
    # The wrappers' former names, which were also Chroma's TypedDicts' (chroma_frame.GetResult / QueryResult).
    if name in _RENAMED:
        new = _RENAMED[name]
        warnings.warn(f"chroma_frame.interop.results.{name} is now {new.__name__} (chroma_frame.{name} is "
                      "Chroma's TypedDict)", DeprecationWarning, stacklevel=2)
        return new
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FramedGetResult", "FramedQueryResult", "SearchResult", "decode", "get_result", "query_result",
           "take_rows"]
