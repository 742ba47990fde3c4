"""``get`` / ``query`` / ``search`` results that are still Chroma's dicts, and also convert to frames.

Chroma's names ``GetResult`` / ``QueryResult`` are its TypedDicts (``chroma_frame.api.types``); the
dicts ``get`` / ``query`` return are their subclasses here, ``FramedGetResult`` /
``FramedQueryResult``, which also wrap any such dict (from ``HttpClient`` or ``chromadb``).

``FramedGetResult(...).to_arrow()``: one row per record (``id, document, uri, <metadata keys>,
embedding``, the fields that were included). ``FramedQueryResult(...).to_arrow()``: one row per
(query, hit): ``query`` (index of the query, from 0), ``rank`` (from 1), ``id``, ``distance``, then
the included fields. ``SearchResult(...).to_arrow()``: one row per (search, hit), see the class.
Metadata keys are typed as in ``collection.to_arrow`` (docs/dataframes.md).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np
import pyarrow as pa

from chroma_frame.interop.columns import RESERVED, flatten, key_specs, pivot
from chroma_frame.storage.records import encode_metadata

if TYPE_CHECKING:
    import pandas
    import polars


def _embedding_column(rows: Any, n: int) -> pa.Array:
    matrix = np.asarray(rows, dtype=np.float32) if len(rows) else np.zeros((0, 0), np.float32)
    if matrix.ndim != 2 or matrix.shape[1] == 0:
        return pa.array([list(map(float, r)) for r in rows], pa.list_(pa.float32()))
    return pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), matrix.shape[1])


def _record_columns(fields: dict[str, Any], ids: list, reserved: frozenset) -> dict[str, pa.Array]:
    n = len(ids)
    cols: dict[str, pa.Array] = {"id": pa.array(ids, pa.string())}
    if fields.get("documents") is not None:
        cols["document"] = pa.array(fields["documents"], pa.string())
    if fields.get("uris") is not None:
        cols["uri"] = pa.array(fields["uris"], pa.string())
    if fields.get("metadatas") is not None:
        long = encode_metadata([m or None for m in fields["metadatas"]])
        specs = key_specs(flatten(long)[0], reserved)
        for spec, array in zip(specs, pivot(long, specs)):
            cols[spec.name] = array
    if fields.get("embeddings") is not None:
        cols["embedding"] = _embedding_column(fields["embeddings"], n)
    return cols


class _Frames:
    _title = ""  # the result's name in Jupyter: Chroma's

    def to_arrow(self) -> pa.Table:  # pragma: no cover - overridden
        raise NotImplementedError

    def to_polars(self) -> "polars.DataFrame":
        import polars as pl

        return pl.from_arrow(self.to_arrow())

    def to_pandas(self, **kwargs: Any) -> "pandas.DataFrame":
        return self.to_arrow().to_pandas(**kwargs)

    def _repr_html_(self) -> str:
        from chroma_frame.interop.html import table_html

        table = self.to_arrow()
        return table_html(table, title=f"{self._title}: {table.num_rows} rows", max_rows=20)


class FramedGetResult(dict, _Frames):
    """Chroma's ``GetResult`` dict, with ``to_arrow`` / ``to_polars`` / ``to_pandas``."""

    _title = "GetResult"

    def to_arrow(self) -> pa.Table:
        return pa.table(_record_columns(self, list(self.get("ids") or []), RESERVED))


class FramedQueryResult(dict, _Frames):
    """Chroma's ``QueryResult`` dict; frames have one row per (query, hit)."""

    _title = "QueryResult"

    def to_arrow(self) -> pa.Table:
        per_query: Sequence[list] = self.get("ids") or []
        lengths = np.array([len(ids) for ids in per_query], dtype=np.int64)
        cols: dict[str, Any] = {
            "query": pa.array(np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)),
            "rank": pa.array(np.concatenate([np.arange(1, n + 1, dtype=np.int32) for n in lengths])
                             if len(lengths) else np.zeros(0, np.int32)),
        }
        ids = [i for ids in per_query for i in ids]
        flat: dict[str, Any] = {}
        for name in ("documents", "uris", "metadatas"):
            if self.get(name) is not None:
                flat[name] = [x for part in self[name] for x in part]
        if self.get("embeddings") is not None:
            parts = [np.asarray(e, dtype=np.float32) for e in self["embeddings"] if len(e)]
            flat["embeddings"] = np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
        record = _record_columns(flat, ids, RESERVED | {"query", "rank", "distance"})
        cols["id"] = record.pop("id")
        if self.get("distances") is not None:
            cols["distance"] = pa.array([d for part in self["distances"] for d in part], pa.float32())
        cols.update(record)
        return pa.table(cols)


class SearchResult(dict, _Frames):
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
        cols: dict[str, Any] = {
            "search": pa.array(np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)),
            "rank": pa.array(np.concatenate([np.arange(1, n + 1, dtype=np.int32) for n in lengths])
                             if lengths else np.zeros(0, np.int32)),
            "id": pa.array([i for ids in per_search for i in ids], pa.string()),
        }
        flat = {name: self._flat(name, lengths) for name in ("documents", "metadatas", "scores", "embeddings")}
        if flat["scores"] is not None:
            cols["score"] = pa.array(flat["scores"], pa.float32())
        record = _record_columns({"documents": flat["documents"], "metadatas": flat["metadatas"]}, [],
                                 RESERVED | {"search", "rank", "score"})
        record.pop("id")
        cols.update(record)
        if flat["embeddings"] is not None:
            cols["embedding"] = pa.array(flat["embeddings"], pa.list_(pa.float32()))
        return pa.table(cols)

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
