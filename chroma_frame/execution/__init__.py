"""Chroma's ``chromadb.execution`` import path: the Search API expressions live in ``expression``."""
