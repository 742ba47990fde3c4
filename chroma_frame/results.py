"""Chroma's result shapes for ``get`` / ``query``: a re-export of :mod:`chroma_frame.interop.results`,
where they live (next to the frames they convert to, which they are built from)."""

from chroma_frame.interop.results import FramedGetResult, FramedQueryResult, SearchResult, get_result, query_result

__all__ = ["FramedGetResult", "FramedQueryResult", "SearchResult", "get_result", "query_result"]
