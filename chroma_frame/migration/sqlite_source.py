"""Chroma 1.x's ``chroma.sqlite3``, opened read-only: tenants, databases, collections and the rows
of the metadata segment and of the write log (``embeddings_queue``).

The file is opened through a ``mode=ro`` URI, so SQLite neither writes to it nor creates a journal.
"""

from __future__ import annotations

import json
import os
import pathlib
import sqlite3
from dataclasses import dataclass
from typing import Any, Iterator, Optional

from chroma_frame.storage.chroma_dir import CHROMA_SQLITE

DOCUMENT_KEY = "chroma:document"
URI_KEY = "chroma:uri"
ADD, UPDATE, UPSERT, DELETE = 0, 1, 2, 3  # embeddings_queue.operation (sqlite_log.rs operation_from_code)
_PARAMETERS = 900  # bound parameters per statement (older SQLite builds allow 999)


class SourceError(ValueError):
    """The Chroma directory cannot be read as Chroma 1.x writes it."""


@dataclass(frozen=True)
class SourceCollection:
    """A collection's catalog row and its two segments."""

    id: str
    name: str
    tenant: str
    database: str
    dimension: Optional[int]
    metadata: Optional[dict[str, Any]]
    config: dict[str, Any]  # config_json_str (often "{}" since the schema holds the settings)
    schema: Optional[dict[str, Any]]
    metadata_segment: str
    vector_segment: str


@dataclass(frozen=True)
class LogEntry:
    """One row of ``embeddings_queue``: an operation on one record."""

    seq_id: int
    operation: int
    id: str
    vector: Optional[bytes]
    encoding: Optional[str]
    metadata: Optional[dict[str, Any]]  # with chroma:document / chroma:uri in it, None values delete keys


def _value(string: Any, integer: Any, real: Any, boolean: Any) -> Any:
    """A metadata value from its typed columns, read in Chroma's order (string, int, float, bool)."""
    if string is not None:
        return string
    if integer is not None:
        return integer
    if real is not None:
        return real
    if boolean is not None:
        return bool(boolean)
    return None


class ChromaSqlite:
    """Read-only access to one ``chroma.sqlite3``."""

    def __init__(self, root: str) -> None:
        path = os.path.join(root, CHROMA_SQLITE)
        if not os.path.isfile(path):
            raise SourceError(f"{root} is not a Chroma directory: it has no {CHROMA_SQLITE}")
        uri = pathlib.Path(path).resolve().as_uri() + "?mode=ro"
        try:
            self.db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as e:
            raise SourceError(f"cannot read {path}: {e}") from None
        self.tables = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = {"tenants", "databases", "collections", "segments", "embeddings", "embedding_metadata"} - self.tables
        if missing:
            raise SourceError(f"{path} is not a Chroma 1.x database: no table {', '.join(sorted(missing))}")

    def close(self) -> None:
        self.db.close()

    def _columns(self, table: str) -> set[str]:
        return {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}

    # -- the catalog ------------------------------------------------------------------------------

    def tenants(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT id FROM tenants ORDER BY rowid")]

    def databases(self) -> list[tuple[str, str]]:
        """(tenant, database name) pairs."""
        return [(t, n) for t, n in self.db.execute("SELECT tenant_id, name FROM databases ORDER BY rowid")]

    def _collection_metadata(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        if "collection_metadata" not in self.tables:
            return found
        rows = self.db.execute("SELECT collection_id, key, str_value, int_value, float_value, bool_value "
                               "FROM collection_metadata ORDER BY rowid")
        for cid, key, *values in rows:
            value = _value(*values)
            if value is not None:
                found.setdefault(cid, {})[key] = value
        return found

    def collections(self) -> list[SourceCollection]:
        columns = self._columns("collections")
        config = "c.config_json_str" if "config_json_str" in columns else "NULL"
        schema = "c.schema_str" if "schema_str" in columns else "NULL"
        segments: dict[tuple[str, str], str] = {
            (collection, scope): sid for sid, scope, collection in self.db.execute(
                "SELECT id, scope, collection FROM segments")}
        metadata = self._collection_metadata()
        found = []
        rows = self.db.execute(
            f"SELECT c.id, c.name, d.tenant_id, d.name, c.dimension, {config}, {schema} FROM collections c "
            "JOIN databases d ON d.id = c.database_id ORDER BY d.rowid, c.rowid")
        for cid, name, tenant, database, dimension, config_str, schema_str in rows:
            try:
                meta_segment, vector_segment = segments[(cid, "METADATA")], segments[(cid, "VECTOR")]
            except KeyError as e:
                raise SourceError(f"collection {name} ({cid}) has no {e.args[0][1]} segment") from None
            found.append(SourceCollection(
                id=cid, name=name, tenant=tenant, database=database, dimension=dimension,
                metadata=metadata.get(cid), config=json.loads(config_str) if config_str else {},
                schema=json.loads(schema_str) if schema_str else None,
                metadata_segment=meta_segment, vector_segment=vector_segment))
        return found

    def max_seq_id(self, segment_id: str) -> Optional[int]:
        if "max_seq_id" not in self.tables:
            return None
        row = self.db.execute("SELECT seq_id FROM max_seq_id WHERE segment_id = ?", (segment_id,)).fetchone()
        if row is None or row[0] is None:
            return None
        seq = row[0]
        return int.from_bytes(seq, "big") if isinstance(seq, bytes) else int(seq)  # a BLOB before metadb 5

    # -- the log ----------------------------------------------------------------------------------

    def log(self, collection_id: str) -> list[LogEntry]:
        """The write log's entries of a collection, oldest first (what compaction has not purged)."""
        if "embeddings_queue" not in self.tables:
            return []
        rows = self.db.execute(
            "SELECT seq_id, operation, id, vector, encoding, metadata FROM embeddings_queue "
            "WHERE topic LIKE ? ORDER BY seq_id", (f"%/{collection_id}",))
        return [LogEntry(int(seq), int(op), rid, vector, encoding, json.loads(meta) if meta else None)
                for seq, op, rid, vector, encoding, meta in rows]

    # -- the metadata segment ---------------------------------------------------------------------

    def record_ids(self, segment_id: str) -> list[str]:
        """The ids of a metadata segment, in Chroma's ``get`` order (its offset ids)."""
        return [row[0] for row in self.db.execute(
            "SELECT embedding_id FROM embeddings WHERE segment_id = ? ORDER BY id", (segment_id,))]

    def _metadata(self, rowids: list[int]) -> dict[int, dict[str, Any]]:
        """Metadata (scalars, then arrays in their order) of records by offset id."""
        found: dict[int, dict[str, Any]] = {}
        tables = [("embedding_metadata", "", False)]
        if "embedding_metadata_array" in self.tables:
            tables.append(("embedding_metadata_array", " ORDER BY rowid", True))
        for at in range(0, len(rowids), _PARAMETERS):
            chunk = rowids[at:at + _PARAMETERS]
            marks = ",".join("?" * len(chunk))
            for table, order, is_array in tables:
                for rid, key, *values in self.db.execute(
                        f"SELECT id, key, string_value, int_value, float_value, bool_value FROM {table} "
                        f"WHERE id IN ({marks}){order}", chunk):
                    value = _value(*values)
                    if value is None:
                        continue
                    if is_array:
                        found.setdefault(rid, {}).setdefault(key, []).append(value)
                    else:
                        found.setdefault(rid, {})[key] = value
        return found

    def record_batches(self, segment_id: str, size: int) -> Iterator[list[tuple[str, dict[str, Any]]]]:
        """(id, metadata with chroma:document / chroma:uri) of a metadata segment, in ``get`` order."""
        after = -1
        while True:
            rows = self.db.execute("SELECT id, embedding_id FROM embeddings WHERE segment_id = ? AND id > ? "
                                   "ORDER BY id LIMIT ?", (segment_id, after, size)).fetchall()
            if not rows:
                return
            metadata = self._metadata([rid for rid, _ in rows])
            yield [(user_id, metadata.get(rid, {})) for rid, user_id in rows]
            after = rows[-1][0]

    def records_by_id(self, segment_id: str, ids: list[str]) -> dict[str, dict[str, Any]]:
        """The stored metadata of some records of a metadata segment (absent ids are left out)."""
        rows: list[tuple[int, str]] = []
        for at in range(0, len(ids), _PARAMETERS):
            chunk = ids[at:at + _PARAMETERS]
            rows += self.db.execute(
                f"SELECT id, embedding_id FROM embeddings WHERE segment_id = ? AND embedding_id IN "
                f"({','.join('?' * len(chunk))})", [segment_id, *chunk]).fetchall()
        metadata = self._metadata([rid for rid, _ in rows])
        return {user_id: metadata.get(rid, {}) for rid, user_id in rows}
