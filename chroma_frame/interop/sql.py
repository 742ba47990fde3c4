"""``client.sql(...)``: DuckDB SQL over the collections of a database (mixed into Client).

Every collection of the client's current database is a view named after it (``id, document, uri,
<metadata keys>, embedding``): a lazy :class:`~chroma_frame.interop.view.SnapshotView` registered
when a statement names it and re-registered only after the collection changed, so that DuckDB
pushes projections and filters into it (a query that does not select embeddings never builds
them). Vector search is the table macro
``knn(collection, query, k [, filter := ...] [, document := ...])`` defined in ``sql/knn.sql`` on top
of the Python function ``cf_knn`` (one ``collection.query`` per chunk of queries).
"""

from __future__ import annotations

import json
import os
import threading
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional

import numpy as np
import pyarrow as pa

from chroma_frame.errors import ChromaError, NotFoundError
from chroma_frame.interop.columns import as_array
from chroma_frame.interop.parquet import UNSET as _UNSET
from chroma_frame.interop.parquet import import_file

if TYPE_CHECKING:
    import sys

    import duckdb

    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

    from chroma_frame.collection import Collection

HIT = pa.struct([("id", pa.string()), ("distance", pa.float32()), ("rank", pa.int32())])


def sql_files() -> list[Traversable]:
    """The ``*.sql`` files, ``knn.sql`` first: from the installed package's ``chroma_frame/sql/``
    (a wheel carries them there, see setup.py) or else from the repository's top-level ``sql/``."""
    for folder in (resources.files("chroma_frame") / "sql", Path(__file__).resolve().parents[2] / "sql"):
        if folder.is_dir():
            files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")),
                           key=lambda f: (f.name != "knn.sql", f.name))
            if files:
                return files
    raise FileNotFoundError("chroma_frame: the sql/*.sql files are missing")


def _catalog_table(records: Iterable[dict]) -> pa.Table:
    records = list(records)
    space = [((r.get("configuration_json") or {}).get("hnsw") or {}).get("space") for r in records]
    return pa.table({
        "name": pa.array([r["name"] for r in records], pa.string()),
        "id": pa.array([r["id"] for r in records], pa.string()),
        "metadata": pa.array([json.dumps(r.get("metadata")) if r.get("metadata") else None for r in records],
                             pa.string()),
        "space": pa.array(space, pa.string()),
    })


class SQLMethods:
    """``sql``, ``register`` and ``import_parquet`` for Client."""

    if TYPE_CHECKING:  # what Client provides
        tenant: str
        database: str
        _catalog: Any
        _system: Any

        def get_collection(self, name: str) -> Collection: ...

    def sql(self, query: str, params: Any = None, *,
            as_of: Optional[Mapping[str, Any]] = None) -> Optional["duckdb.DuckDBPyRelation"]:
        """Run DuckDB SQL where each collection of the current database is a view.

        ``params`` binds ``?`` / ``$name`` placeholders. ``as_of`` maps collection names to a past
        version (a number from ``collection.versions()``, or a timestamp): their views show that
        version (``knn`` searches the current state). Polars, pandas and Arrow frames in the
        caller's scope can be named as tables (DuckDB replacement scans). Returns a DuckDB relation
        (``.arrow()``, ``.pl()``, ``.df()``, ``.fetchall()``), or None for a statement without a result.
        """
        import duckdb

        con, state = self._sql_state()
        self._sync_views(con, state, query, dict(as_of or {}))
        try:
            if not params:
                return con.sql(query)  # a lazy relation: DuckDB runs it with the GIL released
            return _run_bound(con, query, params)
        except duckdb.CatalogException as e:
            raise self._unknown_table(e) from None

    def _unknown_table(self, error: Exception) -> Exception:
        """DuckDB's "Table ... does not exist! Did you mean "pg_enum"?" with this database's collections instead."""
        message = str(error)
        if "does not exist" not in message:
            return error
        first = message.split("!")[0] + "!"
        return type(error)(f"{first} The collections of database {self.database!r} are: {_collection_names(self)}; "
                           "DataFrames in the caller's scope can be named as tables too.")

    def register(self, con: "duckdb.DuckDBPyConnection", name: Optional[str] = None, *,
                 view: Optional[str] = None) -> None:
        """Put collection ``name`` (all collections when None) and ``knn`` into your own connection.

        The view is a snapshot of the collection as of this call (``view`` renames it);
        ``knn``/``knn_text``/``knn_list`` always search the current state.
        """
        from chroma_frame.interop.view import SnapshotView  # imports pyarrow.dataset: only when used

        install(con, self)
        names = ([name] if name is not None
                 else [r["name"] for r in self._catalog.list_collections(self.tenant, self.database)])
        if view is not None and len(names) != 1:
            raise ValueError("register: view= needs one collection name")
        for n in names:
            con.register(view or n, SnapshotView(self._snapshot_of(self.get_collection(n))))

    def _snapshot_of(self, collection: "Collection") -> Any:
        """The current snapshot of a collection of this client (its store, by the public id)."""
        return self._system.store(str(collection.id)).snapshot()

    def import_parquet(self, path: str | os.PathLike, name: str, *, embedding_function: Any = _UNSET,
                       metadata: Optional[dict] = None, configuration: Optional[dict] = None,
                       batch_size: int = 50_000, progress: Any = None) -> "Collection":
        """Create collection ``name`` from a file written by ``collection.export_parquet`` (or
        ``chroma-frame export``; the format is :mod:`chroma_frame.interop.parquet`).

        The collection metadata and index configuration stored in the file are used unless given;
        without ``embedding_function``, so is the embedding function the file describes.
        Any Parquet file works (columns as for ``collection.ingest``).
        """
        collection, _ = import_file(self, path, name, embedding_function=embedding_function, metadata=metadata,
                                    configuration=configuration, batch_size=batch_size, progress=progress)
        return collection

    # -- internals -----------------------------------------------------------------------
    def _sql_state(self) -> tuple["duckdb.DuckDBPyConnection", dict]:
        local = self.__dict__.get("_sql_local")
        if local is None:
            local = self.__dict__.setdefault("_sql_local", threading.local())
        if getattr(local, "con", None) is None:
            import duckdb

            con, parser = duckdb.connect(), duckdb.connect()
            con.execute("SET python_scan_all_frames = true")  # the caller's DataFrames are tables too
            install(con, self)
            install(parser, self)  # names in a statement, read before views expand them
            local.con, local.state, local.parser = con, {"": parser}, parser
        return local.con, local.state

    def _sync_views(self, con, state: dict, query: str, as_of: dict[str, Any]) -> None:
        import duckdb

        from chroma_frame.interop.view import SnapshotView

        records = self._catalog.list_collections(self.tenant, self.database)
        con.register("__cf_collections", _catalog_table(records))
        by_name = {r["name"].lower(): r for r in records}
        try:
            named = {n.lower() for n in state[""].get_table_names(query)}
        except duckdb.Error:
            named = set(by_name)
        past = {name.lower(): version for name, version in as_of.items()}
        unknown = sorted(set(past) - set(by_name))
        if unknown:
            raise ValueError(f"sql(as_of=...): no collection named {', '.join(unknown)}")
        for lower in named & set(by_name):
            record = by_name[lower]
            collection = self.get_collection(record["name"])
            snap = (collection._engine.at(past[lower]).snapshot() if lower in past
                    else self._snapshot_of(collection))
            key = (record["id"], snap.manifest_version, snap.last_seq)
            if state.get(lower) != key:
                con.register(record["name"], SnapshotView(snap))
                state[lower] = key
        for lower in [n for n in state if n and n not in by_name]:
            con.unregister(lower)
            del state[lower]


def _run_bound(con: "duckdb.DuckDBPyConnection", query: str, params: Any) -> Optional["duckdb.DuckDBPyRelation"]:
    """``con.sql(query, params=params)`` without its deadlock.

    duckdb-python (1.5) finishes a parameterised ``con.sql`` while holding the GIL; a DuckDB worker
    that then frees Python-owned Arrow memory (a view's batch, a ``knn`` result) waits for the GIL
    forever. ``execute`` runs and fetches with the GIL released; the result is materialised, as
    ``con.sql`` materialises a parameterised statement too.
    """
    cursor = con.execute(query, params)
    if cursor.description is None:  # a statement without a result
        return None
    return con.from_arrow(cursor.fetch_arrow_table())


def install(con: "duckdb.DuckDBPyConnection", client: Any) -> None:
    """Define ``cf_knn`` / ``cf_knn_text`` (Python) and load ``sql/*.sql`` into ``con``."""
    import duckdb
    from duckdb.sqltypes import BIGINT, FLOAT, VARCHAR

    defined = {r[0] for r in con.execute(
        "SELECT function_name FROM duckdb_functions() WHERE function_name IN ('cf_knn', 'cf_knn_text')").fetchall()}
    ret = duckdb.list_type(duckdb.struct_type({"id": VARCHAR, "distance": FLOAT, "rank": duckdb.sqltype("INTEGER")}))
    for fname, kind, qtype in (("cf_knn", "embedding", duckdb.list_type(FLOAT)), ("cf_knn_text", "text", VARCHAR)):
        if fname not in defined:  # a connection keeps the client it was first given
            con.create_function(fname, _knn_udf(client, kind), [VARCHAR, qtype, BIGINT, VARCHAR, VARCHAR], ret,
                                type="arrow", null_handling="special",  # type: ignore[call-overload]  # enum names
                                side_effects=True)
    if "__cf_collections" not in {r[0] for r in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}:
        con.register("__cf_collections", _catalog_table([]))
    for path in sql_files():
        con.execute(path.read_text())


def _knn_udf(client: Any, kind: str):
    def udf(names, queries, ks, filters, documents) -> pa.Array:
        names, ks = as_array(names).to_pylist(), as_array(ks).to_pylist()
        filters, documents = as_array(filters).to_pylist(), as_array(documents).to_pylist()
        queries = as_array(queries)
        groups: dict[tuple, list[int]] = {}
        for i, key in enumerate(zip(names, ks, filters, documents)):
            if key[0] is not None and key[1] is not None and queries[i].is_valid:
                groups.setdefault(key, []).append(i)
        hits: list[Any] = [None] * len(names)
        for (name, k, where, where_doc), rows in groups.items():
            try:
                result = _search(client, kind, name, queries, rows, k, where, where_doc)
            except (ChromaError, ValueError, TypeError) as exc:
                raise _named_error(exc, kind, name, k, where, where_doc, client) from None
            for j, i in enumerate(rows):
                hits[i] = (result["ids"][j], result["distances"][j])
        return _hit_lists(hits)

    return udf


def _search(client: Any, kind: str, name: str, queries: pa.Array, rows: list[int], k: int,
            where: Optional[str], where_doc: Optional[str]) -> Any:
    collection = client.get_collection(name)
    args = {"n_results": int(k), "include": ["distances"],
            "where": _json_argument(where, "filter"), "where_document": _json_argument(where_doc, "document")}
    if kind == "text":
        return collection.query(query_texts=[queries[i].as_py() for i in rows], **args)
    return collection.query(query_embeddings=_matrix(queries, rows), **args)


def _json_argument(text: Optional[str], argument: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{argument} := {text!r} is not JSON: {e}") from None


def _named_error(exc: BaseException, kind: str, name: str, k: int, where: Optional[str], where_doc: Optional[str],
                 client: Any) -> BaseException:
    """``exc`` again (same class), its message led by the call at fault: DuckDB shows only this."""
    call = f"{'knn_text' if kind == 'text' else 'knn'}({name!r}, <query>, {k}"
    call += (f", filter := {where!r}" if where else "") + (f", document := {where_doc!r}" if where_doc else "") + ")"
    message = f"{call}: {exc}"
    if isinstance(exc, NotFoundError):
        message += f" (collections here: {_collection_names(client)})"
    try:
        return type(exc)(message)
    except Exception:  # noqa: BLE001 - a class that takes other arguments
        return ValueError(message)


def _collection_names(client: Any) -> str:
    """The collections of the client's database, for error messages ("none" when there are none)."""
    return ", ".join(r["name"] for r in client._catalog.list_collections(client.tenant, client.database)) or "none"


def _matrix(queries: pa.Array, rows: list[int]) -> np.ndarray:
    picked = queries.take(pa.array(rows))
    flat = np.asarray(picked.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
    return flat.reshape(len(rows), -1)


def _hit_lists(hits: list) -> pa.Array:
    """``list<struct<id, distance, rank>>`` from per-row (ids, distances) or None."""
    lengths = np.array([0 if h is None else len(h[0]) for h in hits], dtype=np.int32)
    offsets = np.zeros(len(hits) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    ids = [i for h in hits if h is not None for i in h[0]]
    dists = [d for h in hits if h is not None for d in h[1]]
    ranks = (np.concatenate([np.arange(1, n + 1, dtype=np.int32) for n in lengths]) if len(hits)
             else np.zeros(0, np.int32))
    values = pa.StructArray.from_arrays(
        [pa.array(ids, pa.string()), pa.array(dists, pa.float32()), _arrow_owned(ranks)], fields=list(HIT)
    )
    mask = pa.array([h is None for h in hits])
    return pa.ListArray.from_arrays(_arrow_owned(offsets), values, mask=mask)


def _arrow_owned(values: np.ndarray) -> pa.Array:
    """A copy in Arrow's memory. DuckDB frees a function's result on one of its worker threads;
    an array over a NumPy buffer needs the GIL to be freed, and a caller of a parameterised
    ``con.sql`` holds it (see :func:`_run_bound`), so a NumPy-backed result can deadlock."""
    return pa.concat_arrays([pa.array(values)])
