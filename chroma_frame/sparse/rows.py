"""Columnar view of one segment's sparse vectors under one metadata key (CSR layout)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SparseRows:
    """Sparse vectors of a segment's rows in CSR form.

    Row ``i`` of the segment has entries ``indices[offsets[i]:offsets[i+1]]`` /
    ``values[offsets[i]:offsets[i+1]]``; a row without the key has an empty slot.
    Liveness is not encoded here (use the snapshot's ``live`` mask).
    """

    offsets: np.ndarray  # int64, len n + 1
    indices: np.ndarray  # uint32, strictly ascending within a row
    values: np.ndarray  # float32

    @property
    def n_rows(self) -> int:
        return len(self.offsets) - 1

    @staticmethod
    def empty(n_rows: int) -> "SparseRows":
        """All-empty rows (no record carries the key)."""
        return SparseRows(
            offsets=np.zeros(n_rows + 1, dtype=np.int64),
            indices=np.zeros(0, dtype=np.uint32),
            values=np.zeros(0, dtype=np.float32),
        )
