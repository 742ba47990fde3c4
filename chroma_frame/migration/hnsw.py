"""The vectors of a persisted hnswlib index as Chroma 1.x writes it (chroma-core/hnswlib's layout).

A segment folder holds ``header.bin`` (the index's sizes and offsets), ``data_level0.bin`` (per
element: level-0 links, the vector as float32, the 8-byte label), ``length.bin`` (per element: the
norm of the vector as given) and ``link_lists.bin`` (upper levels, not needed here). For the cosine
space hnswlib stores the unit vector and the norm; Chroma returns their float32 product
(``getDataByLabel``), and so does :meth:`HnswVectors.vectors`.
"""

from __future__ import annotations

import os
import struct
from typing import Optional, Sequence

import numpy as np

HEADER = "header.bin"
DATA = "data_level0.bin"
LENGTH = "length.bin"
# PERSISTENCE_VERSION, offsetLevel0_, max_elements_, cur_element_count, size_data_per_element_, label_offset_,
# offsetData_, maxlevel_, enterpoint_node_, maxM_, maxM0_, M_, mult_, ef_construction_ (hnswalg.h HEADER_FIELDS)
_HEADER = struct.Struct("<iQQQQQQiIQQQdQ")
_DELETE_MARK = 0x01  # in the third byte of an element's level-0 link count


class HnswFormatError(ValueError):
    """The segment files are not an index this reader knows."""


def unit_times_norm(vectors: np.ndarray) -> np.ndarray:
    """What hnswlib keeps and gives back for a cosine vector: ``v / (|v| + 1e-30) * |v|`` in float32,
    the squares summed in order as ``normalize_vector`` does (checked bit for bit against chromadb)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    total = np.zeros(len(vectors), dtype=np.float32)
    for column in vectors.T:
        total += column * column
    length = np.sqrt(total)
    unit = vectors * (np.float32(1.0) / (length + np.float32(1e-30)))[:, None]
    return unit * length[:, None]


class HnswVectors:
    """Label -> vector of one persisted segment (memory-mapped; nothing is written)."""

    def __init__(self, folder: str, dimension: int, normalized: bool) -> None:
        with open(os.path.join(folder, HEADER), "rb") as f:
            raw = f.read(_HEADER.size)
        if len(raw) != _HEADER.size:
            raise HnswFormatError(f"{folder}/{HEADER}: {len(raw)} bytes, expected {_HEADER.size}")
        (version, offset_level0, _max, count, per_element, label_offset, offset_data,
         *_rest) = _HEADER.unpack(raw)
        if version != 1 or offset_data + 4 * dimension != label_offset or label_offset + 8 != per_element:
            raise HnswFormatError(f"{folder}: hnswlib index of version {version} with element layout "
                                  f"{offset_data}/{label_offset}/{per_element} does not hold {dimension}-d vectors")
        self.count = int(count)
        self.normalized = normalized
        size = os.path.getsize(os.path.join(folder, DATA))
        if size < self.count * per_element:
            raise HnswFormatError(f"{folder}/{DATA}: {size} bytes, shorter than {self.count} elements")
        rows = (np.memmap(os.path.join(folder, DATA), dtype=np.uint8, mode="r", shape=(self.count, per_element))
                if self.count else np.zeros((0, per_element), np.uint8))
        self._data = rows[:, offset_data:label_offset].view(np.float32)
        labels = rows[:, label_offset:per_element].copy().view("<u8").ravel()
        deleted = (rows[:, offset_level0 + 2] & _DELETE_MARK).astype(bool)
        live = np.flatnonzero(~deleted)
        self._slot = dict(zip(labels[live].tolist(), live.tolist()))
        self._length: Optional[np.ndarray] = None
        if normalized and self.count:
            self._length = np.fromfile(os.path.join(folder, LENGTH), dtype="<f4", count=self.count)
            if len(self._length) != self.count:
                raise HnswFormatError(f"{folder}/{LENGTH}: fewer than {self.count} lengths")

    def vectors(self, labels: Sequence[int]) -> np.ndarray:
        """The vectors of ``labels`` (float32, one row each), as Chroma's ``get`` returns them."""
        try:
            slots = np.fromiter((self._slot[int(label)] for label in labels), dtype=np.int64, count=len(labels))
        except KeyError as e:
            raise HnswFormatError(f"label {e.args[0]} is not a live element of the index") from None
        found = np.array(self._data[slots], dtype=np.float32)
        if self._length is not None:
            found *= self._length[slots][:, None]
        return found
