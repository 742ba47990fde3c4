"""Chroma's ``chromadb.api.models`` import path."""

from chroma_frame.collection import Collection

__all__ = ["Collection"]
