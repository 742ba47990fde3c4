"""Sparse vectors as an inverted index: per-blockfile postings, their files, and who loads them.

``postings`` builds and (de)serialises one segment's index, ``files`` keeps it beside its
blockfile, ``provider`` hands the engine the index of a segment (loaded, built or cached).
Scoring lives in :mod:`chroma_frame.engine.sparse_knn`.
"""

from chroma_frame.sparse.postings import CorruptPostings, Postings, build_postings
from chroma_frame.sparse.provider import SparseIndexes

__all__ = ["CorruptPostings", "Postings", "SparseIndexes", "build_postings"]
