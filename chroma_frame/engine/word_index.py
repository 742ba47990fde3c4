"""Candidate rows of a document substring test (``$contains``) from a word index of a segment.

A segment's documents are split into words (maximal runs of non-whitespace, Arrow's
``utf8_split_whitespace``), and each distinct word keeps the rows holding it. A pattern is split
the same way: an occurrence of ``"f1 f2 ... fn"`` in a document lies on words that end with
``f1`` (or equal it, when the pattern starts with whitespace), equal the inner fragments, and
start with ``fn`` (or equal it); a pattern of one fragment lies inside one word. So the rows
holding such words, for every fragment, are a superset of the rows whose document contains the
pattern: the caller tests just those exactly. A pattern of whitespace only gives no candidates
to use (None).

Indexes are made in one background thread on first use and kept while the segment's Arrow table
lives; until one is ready the caller answers without it.
"""

from __future__ import annotations

import threading
import weakref
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chroma_frame.engine.background import Background


class WordIndex:
    """The distinct words of a segment's documents and the rows holding each."""

    def __init__(self, documents: pa.ChunkedArray) -> None:
        words = pc.utf8_split_whitespace(documents.combine_chunks() if documents.num_chunks != 1
                                         else documents.chunk(0))
        flat = pc.list_flatten(words)
        rows = np.asarray(pc.list_parent_indices(words), dtype=np.int64)
        keep = np.asarray(pc.not_equal(flat, "").to_numpy(zero_copy_only=False), dtype=bool)
        encoded = pc.dictionary_encode(flat.filter(pa.array(keep)))
        codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        order = np.argsort(codes, kind="stable")  # rows ascend within a word
        self.vocabulary: pa.Array = encoded.dictionary
        self.rows = rows[keep][order]
        self.offsets = np.searchsorted(codes[order], np.arange(len(self.vocabulary) + 1))

    def candidates(self, pattern: str) -> Optional[np.ndarray]:
        """Sorted rows that may contain ``pattern``; None when the index cannot narrow it."""
        tokens = pc.utf8_split_whitespace(pa.array([pattern])).to_pylist()[0]
        fragments = [t for t in tokens if t]
        if not fragments:
            return None
        result: Optional[np.ndarray] = None
        for i, fragment in enumerate(fragments):
            open_left = i == 0 and tokens[0] != ""  # the pattern does not start with whitespace
            open_right = i == len(fragments) - 1 and tokens[-1] != ""
            if open_left and open_right:
                hit = pc.match_substring(self.vocabulary, fragment)
            elif open_left:
                hit = pc.ends_with(self.vocabulary, fragment)
            elif open_right:
                hit = pc.starts_with(self.vocabulary, fragment)
            else:
                hit = pc.equal(self.vocabulary, fragment)
            words = np.flatnonzero(np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool))
            rows = (np.unique(np.concatenate([self.rows[self.offsets[w]:self.offsets[w + 1]] for w in words]))
                    if len(words) else np.zeros(0, np.int64))
            result = rows if result is None else np.intersect1d(result, rows, assume_unique=True)
            if not len(result):
                break
        return result


_indexes: dict[int, Optional[WordIndex]] = {}  # id(Arrow table) -> its index (None: being made)
_lock = threading.Lock()
_BUILDER = Background("chroma-frame-words")


def word_index(table: pa.Table) -> Optional[WordIndex]:
    """The word index of a segment's table when made; else starts making it and returns None."""
    key = id(table)
    if key in _indexes:
        return _indexes[key]
    with _lock:
        if key in _indexes:
            return _indexes[key]
        _indexes[key] = None
        weakref.finalize(table, _indexes.pop, key, None)
    _BUILDER.submit(_make, table.column("document"), key)
    return None


def _make(documents: pa.ChunkedArray, key: int) -> None:
    index = WordIndex(documents)
    if key in _indexes:  # the table may have been freed meanwhile
        _indexes[key] = index


def wait_for_builds() -> None:
    """Block until the indexes asked for so far are made (tests, benchmarks)."""
    _BUILDER.wait()


__all__ = ["WordIndex", "wait_for_builds", "word_index"]
