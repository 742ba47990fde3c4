"""Input normalisation and checks at the API boundary, reproducing Chroma 1.5.9.

Pure functions: no I/O, no DuckDB. By topic: :mod:`.records` (record sets: ids, embeddings,
metadata, documents), :mod:`.arguments` (include, n_results, limit / offset, delete's arguments,
query inputs), :mod:`.names` (collection, tenant, database names), :mod:`.configuration`
(collection metadata and configuration); :mod:`.context` and :mod:`.rust` hold the wording both
sides share. Chroma validates in two places and we keep the split:

* **Python side** (``chromadb/api/types.py``): ``ValueError`` / ``TypeError`` /
  ``DuplicateIDError``. Callers run these inside ``validation_context(op)``, which appends
  ``" in {op}."`` to the message, exactly like Chroma's decorator. These are the
  ``normalize_*`` functions and the plain ``check_*`` functions.
* **Engine side** (Chroma's Rust core reached through PyO3): argument conversion errors
  (``TypeError`` / ``OverflowError``), then ``InvalidArgumentError`` / ``InternalError``.
  No suffix. These are the ``*_engine`` functions and the collection-level ``prepare_*``
  functions; call them *outside* ``validation_context``.

Within each side the checks run in Chroma's order, so the error that wins when several apply is
Chroma's. ``chroma_frame.prepare`` strings them together per verb (``prepare_write``,
``prepare_get``, ``prepare_query``, ``prepare_delete``) for every surface; the engine-side record
and query checks run in ``chroma_frame.operations``, once the collection's dimension is known.
"""

from chroma_frame.validation.arguments import (
    DEFAULT_INCLUDE,
    GET_INCLUDE,
    INCLUDE_ITEMS,
    QUERY_INCLUDE,
    QueryInputs,
    check_delete_args,
    check_include,
    check_limit_offset,
    check_n_results,
    check_query_embeddable,
    check_query_engine,
    normalize_ids,
    normalize_query,
    normalize_query_embeddings,
)
from chroma_frame.validation.configuration import (
    SPACES,
    check_collection_metadata,
    check_configuration_update,
    check_modify_metadata,
    create_sections,
    normalize_configuration,
    prepare_create_collection,
    prepare_modify_collection,
)
from chroma_frame.validation.context import validation_context
from chroma_frame.validation.names import check_collection_name, check_database_name, check_tenant_name
from chroma_frame.validation.records import (
    MAX_BATCH_SIZE,
    RESERVED_METADATA_KEY,
    SPARSE_TYPE_KEY,
    SPARSE_TYPE_VALUE,
    Op,
    RecordSet,
    as_embedding_matrix,
    attach_embeddings,
    check_dimensions,
    check_embedding_rows,
    check_records_engine,
    check_records_ingest,
    check_sparse_index_range,
    is_document,
    is_image,
    normalize_embeddings,
    normalize_records,
)
from chroma_frame.validation.rust import I64_MAX, I64_MIN, U32_MAX

__all__ = [
    "DEFAULT_INCLUDE", "GET_INCLUDE", "QUERY_INCLUDE", "I64_MAX", "I64_MIN", "INCLUDE_ITEMS", "MAX_BATCH_SIZE",
    "RESERVED_METADATA_KEY",
    "SPACES", "SPARSE_TYPE_KEY", "SPARSE_TYPE_VALUE", "U32_MAX", "Op", "QueryInputs", "RecordSet",
    "as_embedding_matrix", "attach_embeddings", "check_collection_metadata", "check_collection_name",
    "check_configuration_update", "check_database_name", "check_delete_args", "check_dimensions",
    "check_embedding_rows", "check_include", "check_limit_offset", "check_modify_metadata", "check_n_results",
    "check_query_embeddable", "check_query_engine", "check_records_engine", "check_records_ingest",
    "check_sparse_index_range", "check_tenant_name", "create_sections", "is_document", "is_image",
    "normalize_configuration",
    "normalize_embeddings", "normalize_ids", "normalize_query", "normalize_query_embeddings",
    "normalize_records", "prepare_create_collection", "prepare_modify_collection", "validation_context",
]
