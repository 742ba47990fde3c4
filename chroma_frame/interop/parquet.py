"""The Parquet export format: its one writer and its one reader.

``collection.export_parquet`` / ``client.import_parquet`` and ``chroma-frame export`` / ``import``
all go through this module, so their files are interchangeable.

A file has ``collection.to_arrow()``'s columns (``id, document, uri, <one per metadata key>,
embedding``), or the stored long-form ``metadata`` column instead of the key columns when one
column per key would lose information (a key whose type varies, or named like a core column). The
schema metadata key ``chroma_frame`` holds a JSON header: ``format`` (1), ``name``, ``metadata``,
``configuration`` (the collection's ``configuration_json``), ``dimension``, ``metadata_layout``
(``"wide"`` / ``"long"``), ``metadata_columns`` and ``rows``.

Still read: files of the CLI's former writer (header ``{name, metadata, configuration_json}`` under
``chroma_frame.collection``, metadata as JSON text, embeddings as variable-size lists). Any other
Parquet file imports too, with ``ingest``'s column rules.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Iterator, Optional

import numpy as np
import pyarrow as pa

from chroma_frame.interop import table as tb

if TYPE_CHECKING:
    from chroma_frame.collection import Collection
    from chroma_frame.engine.snapshot import Snapshot
    from chroma_frame.interop.ingest import IngestSummary

PARQUET_KEY = b"chroma_frame"
LEGACY_CLI_KEY = b"chroma_frame.collection"  # the CLI's own format before it used this module
FORMAT = 1
INDEX_SECTIONS = ("hnsw", "nndescent")  # of a stored configuration, what a new collection takes
UNSET: Any = object()


# -- writing ------------------------------------------------------------------------------------


def write(collection: "Collection", snap: "Snapshot", positions: np.ndarray, path: str | os.PathLike, *,
          row_group_size: int = 64 * 1024) -> int:
    """Write the records at ``positions`` of ``snap`` to one Parquet file; returns the row count."""
    import pyarrow.parquet as pq

    lay = tb.layout(snap)
    wide = all(s.lossless for s in lay.specs)
    meta_cols = [s.name for s in lay.specs] if wide else ["metadata"]
    columns = ["id", "document", "uri", *meta_cols, "embedding"]
    header = {"format": FORMAT, "name": collection.name, "metadata": collection.metadata,
              "configuration": _jsonable(collection.configuration_json), "dimension": snap.dimension,
              "metadata_layout": "wide" if wide else "long", "metadata_columns": meta_cols if wide else [],
              "rows": len(positions)}
    schema = lay.schema(columns).with_metadata({PARQUET_KEY: json.dumps(header).encode()})
    compression = {c: ("none" if c == "embedding" else "zstd") for c in columns}
    with pq.ParquetWriter(os.fspath(path), schema, compression=compression) as writer:
        for start in range(0, len(positions), row_group_size):
            part = tb.build(snap, positions[start : start + row_group_size], columns, lay)
            writer.write_table(part.replace_schema_metadata(schema.metadata), row_group_size=row_group_size)
    return len(positions)


# -- reading ------------------------------------------------------------------------------------


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The file's header in the current shape (``{}`` for a Parquet file without one)."""
    import pyarrow.parquet as pq

    kv = pq.read_schema(os.fspath(path)).metadata or {}
    if PARQUET_KEY in kv:
        return json.loads(kv[PARQUET_KEY])
    if LEGACY_CLI_KEY in kv:
        old = json.loads(kv[LEGACY_CLI_KEY])
        return {"format": 0, "name": old.get("name"), "metadata": old.get("metadata"),
                "configuration": old.get("configuration_json"), "metadata_layout": "json", "metadata_columns": []}
    return {}


def import_file(client: Any, path: str | os.PathLike, name: Optional[str] = None, *, mode: str = "add",
                existing_ok: bool = False, embedding_function: Any = UNSET, metadata: Optional[dict] = None,
                configuration: Optional[dict] = None, batch_size: int = 50_000,
                progress: Any = None) -> tuple["Collection", "IngestSummary"]:
    """Ingest a file into collection ``name`` (default: the name in the file), creating it with the
    file's collection metadata and index configuration unless given.

    ``existing_ok``: write into the collection if it exists (else creating it fails as
    ``create_collection`` does). Without ``embedding_function``, a new collection gets the function
    the file's configuration describes (none for a legacy one).
    """
    header = read_header(path)
    name = name or header.get("name")
    if not name:
        raise ValueError(f"{os.fspath(path)} names no collection: give the collection's name")
    kwargs = {} if embedding_function is UNSET else {"embedding_function": embedding_function}
    collection = _existing(client, name, kwargs) if existing_ok else None
    if collection is None:
        configuration, kwargs = _creation(header, configuration, kwargs)
        collection = client.create_collection(name, configuration=configuration,
                                              metadata=header.get("metadata") if metadata is None else metadata,
                                              **kwargs)
    metadata_columns = header.get("metadata_columns") if header.get("metadata_layout") == "wide" else None
    summary = collection.ingest(path, mode=mode, metadata_columns=metadata_columns, batch_size=batch_size,
                                progress=progress)
    return collection, summary


def _existing(client: Any, name: str, kwargs: dict) -> Optional["Collection"]:
    from chroma_frame.errors import NotFoundError

    try:
        return client.get_collection(name, **kwargs)
    except NotFoundError:
        return None


def _creation(header: dict, configuration: Optional[dict], kwargs: dict) -> tuple[Optional[dict], dict]:
    """``create_collection``'s configuration and embedding function for a file's collection."""
    stored = header.get("configuration")
    if not isinstance(stored, dict):
        return configuration, kwargs
    if configuration is None:
        configuration = {k: stored[k] for k in INDEX_SECTIONS if stored.get(k)}
    if "embedding_function" not in kwargs:
        described = stored.get("embedding_function")
        kwargs = {"embedding_function": None}
        if isinstance(described, dict) and described.get("type") != "legacy":
            from chroma_frame.embeddings.registry import UnbuildableEmbeddingFunction

            # stored as described; the collection's handles build the function from it as usual
            stand_in = UnbuildableEmbeddingFunction(described, ValueError("not built while importing"))
            configuration = {**configuration, "embedding_function": stand_in}
    return configuration, kwargs


def ingest_source(source: Any) -> Any:
    """What ``ingest`` reads for ``source``: a file of the CLI's former layout becomes a reader of
    the current one; anything else is left as it is."""
    if not isinstance(source, (str, os.PathLike)) or not os.path.isfile(source):
        return source
    try:
        legacy = read_header(source).get("metadata_layout") == "json"
    except (pa.ArrowInvalid, OSError, ValueError):  # not Parquet: ingest says so
        return source
    return _json_metadata_reader(source) if legacy else source


def _json_metadata_reader(path: str | os.PathLike) -> pa.RecordBatchReader:
    """The CLI's former layout, with its JSON-text ``metadata`` column as the stored long form."""
    import pyarrow.parquet as pq

    from chroma_frame.storage.records import METADATA, encode_metadata

    pf = pq.ParquetFile(os.fspath(path), pre_buffer=False)  # pre-buffered row groups stay until close
    schema = pf.schema_arrow
    if "metadata" not in schema.names:
        return pa.RecordBatchReader.from_batches(schema, pf.iter_batches())
    at = schema.get_field_index("metadata")
    out = schema.set(at, pa.field("metadata", METADATA))

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in pf.iter_batches():
            texts = batch.column(at).to_pylist()
            long = encode_metadata([None if t is None else json.loads(t) for t in texts])
            yield pa.RecordBatch.from_arrays([*batch.columns[:at], long, *batch.columns[at + 1:]], schema=out)

    return pa.RecordBatchReader.from_batches(out, batches())


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
