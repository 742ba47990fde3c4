"""Images and URIs, for every surface: what a record set or a query embeds (Chroma's
``CollectionCommon._embed_record_set``) and the ``data`` a result gets from the collection's data
loader (the ``"data"`` part of Chroma's ``_transform_get_response`` / ``_transform_query_response``).

Both run on the client side, as in Chroma: ``Collection`` and ``HttpClient``'s collections load
URIs and embed images before a request leaves them, so a server only ever sees embeddings and
URIs (strings it stores and returns).
"""

from __future__ import annotations

from typing import Any, Optional

from chroma_frame.embedder import Embedder

NO_DATA_LOADER = "You must set a data loader on the collection if loading from URIs."


def embed_inputs(embedder: Embedder, data_loader: Any, documents: Optional[list], images: Optional[list],
                 uris: Optional[list], *, is_query: bool = False) -> list:
    """Embeddings of the first of ``documents``, ``images``, ``uris`` given (callers have checked
    which may be); URIs are loaded with ``data_loader`` first (Chroma's error when there is none).

    When ``update`` / ``upsert`` get URIs beside documents or images, Chroma picks the field to
    embed in the iteration order of a Python set, which changes with the process's hash seed;
    here the documents or images are embedded and the URIs only stored."""
    if documents is not None:
        return embedder.dense(documents, is_query=is_query)
    if images is not None:
        return embedder.dense(images, is_query=is_query)
    if data_loader is None:
        raise ValueError(NO_DATA_LOADER)
    return embedder.dense(data_loader(uris=uris), is_query=is_query)


def with_data(result: Any, data_loader: Any, *, per_query: bool = False) -> Any:
    """``result`` (a get result, or a query result with ``per_query``) with ``data`` loaded from
    its URIs when ``"data"`` was included and the collection has a data loader, as Chroma does
    (a ``None`` URI gives what the loader gives for it: ``None`` for ``ImageLoader``)."""
    uris = result.get("uris")
    if "data" in result["included"] and data_loader is not None and uris is not None:
        result["data"] = [data_loader(batch) for batch in uris] if per_query else data_loader(uris)
    return result
