"""The records of one Chroma collection, as chromadb's ``get`` would return them.

Chroma 1.x keeps a collection in two segments that each apply the write log up to their own
``max_seq_id``: the SQLite metadata segment (ids, metadata, documents, uris) and the hnswlib vector
segment (persisted every ``sync_threshold`` writes). Entries past a segment's ``max_seq_id`` stay in
``embeddings_queue`` until both have applied them; chromadb replays them when it opens the
collection, and :class:`CollectionRecords` does the same, with Chroma's rules per operation
(``sqlite_metadata.rs`` ``apply_logs``, ``local_hnsw.rs`` ``apply_log_chunk``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterator, Optional

import numpy as np

from chroma_frame.migration.hnsw import HnswVectors, unit_times_norm
from chroma_frame.migration.idmap import read_id_map
from chroma_frame.migration.sqlite_source import (
    ADD,
    DELETE,
    DOCUMENT_KEY,
    UPDATE,
    UPSERT,
    URI_KEY,
    ChromaSqlite,
    LogEntry,
    SourceCollection,
    SourceError,
)

ID_MAP = "index_metadata.pickle"


@dataclass
class RecordBatch:
    """Records ready for ``Collection.add``."""

    ids: list[str]
    embeddings: np.ndarray  # float32, one row per id
    metadatas: list[Optional[dict[str, Any]]]
    documents: list[Optional[str]]
    uris: list[Optional[str]]


def _merged(current: dict[str, Any], update: Optional[dict[str, Any]]) -> dict[str, Any]:
    """Chroma's metadata update: keys set, keys given None removed."""
    merged = dict(current)
    for key, value in (update or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


class CollectionRecords:
    """The live records of ``collection``: the segments' state plus the log entries they have not applied."""

    def __init__(self, source: ChromaSqlite, root: str, collection: SourceCollection, space: str) -> None:
        self.source = source
        self.collection = collection
        self.space = space
        log = source.log(collection.id)
        self._replay_metadata(log)
        self._replay_vectors(root, log)

    # -- the metadata segment + its log tail ------------------------------------------------------

    def _replay_metadata(self, log: list[LogEntry]) -> None:
        seq = self.source.max_seq_id(self.collection.metadata_segment) or 0
        tail = [entry for entry in log if entry.seq_id > seq]
        base = self.source.records_by_id(self.collection.metadata_segment, sorted({e.id for e in tail}))
        state: dict[str, dict[str, Any]] = dict(base)
        removed: set[str] = set()  # base records deleted by the tail (a later add puts them at the end)
        inserted: list[str] = []
        for entry in tail:
            exists = entry.id in state
            if entry.operation in (ADD, UPSERT) and not exists:
                state[entry.id] = _merged({}, entry.metadata)
                inserted.append(entry.id)
            elif entry.operation in (UPDATE, UPSERT) and exists:
                state[entry.id] = _merged(state[entry.id], entry.metadata)
            elif entry.operation == DELETE and exists:
                del state[entry.id]
                if entry.id in base:
                    removed.add(entry.id)
                if entry.id in inserted:
                    inserted.remove(entry.id)
        self._changed = state
        self._dropped = removed | (set(base) - set(state))
        self._inserted = inserted

    # -- the vector segment + its log tail --------------------------------------------------------

    def _replay_vectors(self, root: str, log: list[LogEntry]) -> None:
        collection = self.collection
        folder = os.path.join(root, collection.vector_segment)
        self._labels: dict[str, int] = {}
        self._index: Optional[HnswVectors] = None
        seq = 0
        if collection.dimension and os.path.isfile(os.path.join(folder, ID_MAP)):
            id_map = read_id_map(os.path.join(folder, ID_MAP))
            if id_map["id_to_label"]:  # else chromadb treats the segment as never written
                self._labels = id_map["id_to_label"]
                stored = self.source.max_seq_id(collection.vector_segment)
                seq = stored if stored is not None else id_map.get("max_seq_id") or 0
                self._index = HnswVectors(folder, collection.dimension, normalized=self.space == "cosine")
        overlay: dict[str, Optional[np.ndarray]] = {}
        for entry in log:
            if entry.seq_id <= seq:
                continue
            present = overlay[entry.id] is not None if entry.id in overlay else entry.id in self._labels
            if entry.operation == DELETE:
                if present:
                    overlay[entry.id] = None
                continue
            ignored = (entry.operation == ADD and present) or (entry.operation == UPDATE and not present)
            if entry.vector is None or ignored:  # Chroma adds only new ids, updates only existing ones
                continue
            if entry.encoding != "FLOAT32":
                raise SourceError(f"record {entry.id} of {collection.name}: vector encoding {entry.encoding} "
                                  "is not supported (Chroma writes FLOAT32)")
            vector = np.frombuffer(entry.vector, dtype="<f4")
            overlay[entry.id] = unit_times_norm(vector[None, :])[0] if self.space == "cosine" else vector.copy()
        self._vectors = overlay

    # -- the result --------------------------------------------------------------------------------

    def ids(self) -> list[str]:
        """Every live id, in Chroma's ``get`` order."""
        kept = [rid for rid in self.source.record_ids(self.collection.metadata_segment) if rid not in self._dropped]
        return kept + self._inserted

    def _embeddings(self, ids: list[str]) -> np.ndarray:
        found = np.empty((len(ids), self.collection.dimension or 0), dtype=np.float32)
        from_index = []
        for row, rid in enumerate(ids):
            if rid in self._vectors:
                vector = self._vectors[rid]
                if vector is None:
                    raise SourceError(f"record {rid} of {self.collection.name} was deleted from the vector index "
                                      "but not from the metadata")
                found[row] = vector
            elif rid in self._labels and self._index is not None:
                from_index.append(row)
            else:
                raise SourceError(f"record {rid} of {self.collection.name} has no vector in the index "
                                  f"({self.collection.vector_segment}/) nor in the write log")
        if from_index:
            assert self._index is not None
            found[from_index] = self._index.vectors([self._labels[ids[row]] for row in from_index])
        return found

    def _batch(self, pairs: list[tuple[str, dict[str, Any]]]) -> RecordBatch:
        ids, metadatas, documents, uris = [], [], [], []
        for rid, stored in pairs:
            metadata = dict(stored)
            documents.append(metadata.pop(DOCUMENT_KEY, None))
            uris.append(metadata.pop(URI_KEY, None))
            metadatas.append(metadata or None)
            ids.append(rid)
        return RecordBatch(ids, self._embeddings(ids), metadatas, documents, uris)

    def batches(self, size: int, skip: frozenset[str] = frozenset()) -> Iterator[RecordBatch]:
        """Every live record not in ``skip``, in ``get`` order, ``size`` at a time."""
        pending: list[tuple[str, dict[str, Any]]] = []
        for rows in self.source.record_batches(self.collection.metadata_segment, size):
            for rid, stored in rows:
                if rid in self._dropped or rid in skip:
                    continue
                pending.append((rid, self._changed.get(rid, stored)))
            while len(pending) >= size:
                yield self._batch(pending[:size])
                del pending[:size]
        pending += [(rid, self._changed[rid]) for rid in self._inserted if rid not in skip]
        for at in range(0, len(pending), size):
            yield self._batch(pending[at:at + size])
