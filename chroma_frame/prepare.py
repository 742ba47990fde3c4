"""Request preparation shared by every surface, as Chroma's ``CollectionCommon._validate_and_prepare_*``.

``Collection`` (embedded), the server and ``HttpClient``'s collections turn a verb's arguments into
a frozen request with these functions: the Python-side checks in Chroma's order (inside
``validation_context``, so messages end in ``" in {op}."``), documents, images or URIs embedded
(``chroma_frame.multimodal``), filters parsed. No engine: the engine-side checks that need the
collection's dimension run when the request is executed (``chroma_frame.operations``), or on the
server.

Where the surfaces differ, the difference is a parameter (the values below are the HTTP client's):
``Embedder(batched=False)`` embeds in one call, ``fill_sparse=False`` leaves sparse vectors to the
server, ``max_batch_size`` is the server's limit (a ``ValueError``). ``has_data_loader`` /
``data_loader`` are the collection's on both clients and absent on the server: URIs are loaded and
images embedded client-side, as in Chroma.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional

from chroma_frame import validation as v
from chroma_frame.embedder import Embedder
from chroma_frame.filters import Node, parse_filter
from chroma_frame.multimodal import embed_inputs
from chroma_frame.schema.sparse_write import apply_sparse_embeddings

# add / upsert / update: the validated record set (``op``, ``ids``, ``embeddings``, ``metadatas``,
# ``documents``, ``uris``), documents embedded when no embeddings were given and sparse vectors
# filled from the schema. ``embeddings`` is None only for an update that changes no vector.
WriteRequest = v.RecordSet


@dataclass(frozen=True)
class GetRequest:
    ids: Optional[list[str]]
    where: Optional[dict[str, Any]]
    where_document: Optional[dict[str, Any]]
    filter: Optional[Node]  # ``where`` and ``where_document`` parsed into one node
    limit: Optional[int]
    offset: int
    include: list[str]  # with "uris" when "data" is asked for


@dataclass(frozen=True)
class QueryRequest:
    embeddings: Any  # the query matrix (rows the engine will refuse stay a list of arrays)
    ids: Optional[list[str]]
    where: Optional[dict[str, Any]]
    where_document: Optional[dict[str, Any]]
    filter: Optional[Node]
    n_results: int
    include: list[str]


@dataclass(frozen=True)
class DeleteRequest:
    ids: Optional[list[str]]
    where: Optional[dict[str, Any]]
    where_document: Optional[dict[str, Any]]
    filter: Optional[Node]
    limit: Optional[int]


def prepare_write(op: v.Op, ids: Any, embeddings: Any = None, metadatas: Any = None, documents: Any = None,
                  images: Any = None, uris: Any = None, *, embedder: Embedder, fill_sparse: bool = True,
                  max_batch_size: Optional[int] = None, data_loader: Any = None) -> WriteRequest:
    """``add`` / ``upsert`` / ``update``: normalise and check, embed documents or images (or, on
    ``add``, URIs through ``data_loader``), fill sparse vectors."""
    with v.validation_context(op):
        records = v.normalize_records(op, ids, embeddings, metadatas, documents, images, uris)
        if records.embeddings is None and (op == "add" or records.documents is not None or records.images is not None):
            embedded = embed_inputs(embedder, data_loader, records.documents, records.images, records.uris)
            records = replace(v.attach_embeddings(records, embedded), images=None)
        target = embedder.sparse_target if fill_sparse else None
        if target is not None:
            records = replace(records, metadatas=apply_sparse_embeddings(target, records.metadatas, records.documents))
    if max_batch_size is not None and len(records.ids) > max_batch_size:
        raise ValueError(f"Batch size {len(records.ids)} exceeds maximum batch size {max_batch_size}")
    return records


def prepare_get(ids: Any = None, where: Any = None, limit: Any = None, offset: Any = None,
                where_document: Any = None, include: Any = None, *, has_data_loader: bool = False) -> GetRequest:
    """``get``: ids, filters and include (Python side), then limit and offset (engine side)."""
    with v.validation_context("get"):
        ids = v.normalize_ids("get", ids)
        node = parse_filter(where, where_document)
        include = v.check_include(include, "get", has_data_loader=has_data_loader)
    limit, offset = v.check_limit_offset(limit, offset, "get")
    return GetRequest(ids, where, where_document, node, limit, offset, include)


def prepare_query(query_embeddings: Any = None, query_texts: Any = None, query_images: Any = None,
                  query_uris: Any = None, ids: Any = None, n_results: Any = 10, where: Any = None,
                  where_document: Any = None, include: Any = None, *, embedder: Embedder,
                  data_loader: Any = None) -> QueryRequest:
    """``query``: inputs, filters, include and n_results, then texts, images or URIs (through
    ``data_loader``) embedded when no embeddings were given. Query ids are only checked by the
    engine (``check_query_engine``)."""
    with v.validation_context("query"):
        inputs = v.normalize_query(query_embeddings, query_texts, query_images, query_uris)
        ids = [ids] if isinstance(ids, str) else ids
        node = parse_filter(where, where_document)
        include = v.check_include(include, "query")
        n_results = v.check_n_results(n_results)
        embeddings = inputs.embeddings
        if embeddings is None:
            v.check_query_embeddable(inputs)
            embeddings = embed_inputs(embedder, data_loader, inputs.documents, inputs.images, inputs.uris,
                                      is_query=True)
    return QueryRequest(embeddings, ids, where, where_document, node, n_results, include)


def prepare_delete(ids: Any = None, where: Any = None, where_document: Any = None,
                   limit: Optional[int] = None) -> DeleteRequest:
    """``delete``: Chroma's argument rules, ids, filters."""
    with v.validation_context("delete"):
        v.check_delete_args(ids, where, where_document, limit)
        ids = v.normalize_ids("delete", ids)
        node = parse_filter(where, where_document)
    return DeleteRequest(ids, where, where_document, node, limit)
