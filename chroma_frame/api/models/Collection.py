"""Chroma's ``chromadb.api.models.Collection`` import path."""

from chroma_frame.collection import Collection

__all__ = ["Collection"]
