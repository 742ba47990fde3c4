"""Compiled kernels for exact scans of chosen rows (filtered queries), in numba.

Distances are computed in place on a segment's (memory-mapped) matrix: the rows a filter chose
are read where they lie, never gathered into a copy first. Compiled once and cached on disk
(``cache=True``); ``engine.filtered_knn`` loads this module off the query path, as
``index.manager`` loads the graph search, and uses numpy until it is ready.
"""

from __future__ import annotations

import numba
import numpy as np


# reassociation lets the dot loop vectorise; NaN and inf keep their IEEE meaning
@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract", "nsz"})
def dots(matrix, rows, first, last, queries, out, column):
    """``out[j, column + i] = queries[j] . matrix[rows[i]]`` for ``first <= i < last``: one pass
    over the chosen rows serves every query (a thread takes a range of ``rows``). ``matrix`` is
    float32 rows or their 8-bit codes (compiled once for each)."""
    for i in range(first, last):
        row = matrix[rows[i]]
        for j in range(queries.shape[0]):
            q = queries[j]
            acc = np.float32(0.0)
            for d in range(matrix.shape[1]):
                acc += q[d] * np.float32(row[d])
            out[j, column + i] = acc


@numba.njit(cache=True, nogil=True)
def quantize(matrix, low, inverse_scale, out):
    """``out = round((matrix - low) * inverse_scale)`` clipped to 0..255, per dimension."""
    for i in range(matrix.shape[0]):
        for d in range(matrix.shape[1]):
            v = (matrix[i, d] - low[d]) * inverse_scale[d] + np.float32(0.5)
            out[i, d] = np.uint8(min(max(v, np.float32(0.0)), np.float32(255.0)))


def warm() -> None:
    """Compile (or load from the cache) every signature the engine calls."""
    matrix = np.eye(4, dtype=np.float32)
    out = np.empty((1, 4), np.float32)
    rows = np.arange(4, dtype=np.int64)
    dots(matrix, rows, 0, 4, matrix[:1], out, 0)
    codes = np.empty((4, 4), np.uint8)
    quantize(matrix, np.zeros(4, np.float32), np.ones(4, np.float32), codes)
    dots(codes, rows, 0, 4, matrix[:1], out, 0)


__all__ = ["dots", "quantize", "warm"]
