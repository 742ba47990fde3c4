"""Chroma's ``chromadb.api`` import path."""

from chroma_frame.client import AdminClient as AdminAPI
from chroma_frame.client import Client as ClientAPI
from chroma_frame.collection import Collection

__all__ = ["AdminAPI", "ClientAPI", "Collection"]
