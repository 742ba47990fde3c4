"""A blockfile's rows as 8-bit codes, a quarter of the bytes of its float32 rows, made once
off the query path and kept in memory while its Arrow table lives.

``row ~ low + scale * code`` per dimension (the segment's range cut in 255 steps), so
``q . row ~ q . low + (q * scale) . code``: filtered scans (``engine.filtered_knn``) rank on the
codes and graph walks (``index.kernels``) walk on them; both re-rank their best on the float32
rows, so answers keep exact distances. Codes are made by compiled kernels
(``index.scan_kernels``), which load in a background thread as well; until both are ready,
callers get None and use the float32 rows.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Any, Optional

import numpy as np

from chroma_frame.engine.background import Background
from chroma_frame.engine.snapshot import Segment


def _code_budget() -> int:
    """An eighth of the machine's memory, at least 1 GiB: 8-bit codes of 384 dimensions take
    384 MB per million rows (the float32 rows they stand for stay in the page cache)."""
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        memory = 0
    return max(1 << 30, memory // 8)


MAX_CODE_BYTES = _code_budget()  # 8-bit codes kept in memory by this process

_state: dict[str, Any] = {"kernels": None, "loading": False}
_codes: dict[int, Optional["Codes"]] = {}  # id(Arrow table) -> its codes (None: being made)
_sizes: dict[int, int] = {}  # id(Arrow table) -> bytes its codes take (made or being made)
_lock = threading.Lock()


def scan_kernels():
    """The compiled scan kernels, or None while they load (loading starts on the first call)."""
    if _state["kernels"] is None and not _state["loading"]:
        with _lock:
            if not _state["loading"]:
                _state["loading"] = True
                threading.Thread(target=_load, name="chroma-frame-scan-kernels", daemon=True).start()
    return _state["kernels"]


def scan_ready() -> bool:
    """Whether the compiled scan kernels answer now (starts loading them when not)."""
    return scan_kernels() is not None


def _load() -> None:
    try:
        from chroma_frame.index import scan_kernels as compiled

        compiled.warm()
        _state["kernels"] = compiled
    except Exception:  # numba missing or broken: scans and walks use the float32 rows
        logging.getLogger(__name__).exception("scan kernels unavailable; searches read float32 rows")


class Codes:
    """A segment's rows as 8-bit codes: ``row ~ low + scale * code`` per dimension."""

    __slots__ = ("codes", "low", "scale")

    def __init__(self, codes: np.ndarray, low: np.ndarray, scale: np.ndarray) -> None:
        self.codes, self.low, self.scale = codes, low, scale


def codes_of(seg: Segment) -> Optional[Codes]:
    """A blockfile's codes when made; else starts making them (once, within ``MAX_CODE_BYTES``)
    and returns None. The log tail (a new table at each write) has none."""
    key = id(seg.table)
    if key in _codes or seg.name is None:
        return _codes.get(key)
    kernels = scan_kernels()
    if kernels is None:
        return None
    with _lock:
        if key in _codes:
            return _codes[key]
        if code_bytes() + seg.matrix.size > MAX_CODE_BYTES:
            return None
        _codes[key], _sizes[key] = None, seg.matrix.size
        weakref.finalize(seg.table, _forget, key)
    CODER.submit(_make_codes, seg, key, kernels)
    return None


def code_bytes() -> int:
    """Bytes of codes this process holds or is making."""
    return sum(list(_sizes.values()))


def _forget(key: int) -> None:
    _codes.pop(key, None)
    _sizes.pop(key, None)


def quantize(matrix: np.ndarray, kernels: Any) -> Codes:
    """The codes of a float32 matrix (``kernels``: the compiled scan kernels)."""
    low = matrix.min(axis=0)
    scale = (matrix.max(axis=0) - low) / np.float32(255.0)
    scale[scale == 0] = 1.0
    codes = np.empty(matrix.shape, np.uint8)
    kernels.quantize(matrix, low, (np.float32(1.0) / scale).astype(np.float32), codes)
    return Codes(codes, low, scale.astype(np.float32))


def _make_codes(seg: Segment, key: int, kernels: Any) -> None:
    if len(seg.matrix) == 0:
        return
    made = quantize(seg.matrix, kernels)
    if key in _codes:  # the table may have been freed meanwhile
        _codes[key] = made


CODER = Background("chroma-frame-codes")  # its own thread: never holds up a search's tasks

__all__ = ["CODER", "Codes", "MAX_CODE_BYTES", "code_bytes", "codes_of", "quantize", "scan_kernels", "scan_ready"]
