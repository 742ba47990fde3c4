"""Embedding functions the Ray tests ship to workers (importable there: the repo is on their path)."""

from __future__ import annotations

import hashlib
import os

import numpy as np

DIM = 8


class ToyEmbedding:
    """Deterministic 8-d vectors from a text's hash (no model): the same text, the same vector."""

    def __call__(self, input):
        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest()[: DIM * 4], dtype=np.uint32) for t in input]
        return [(r / 2**32 - 0.5).astype(np.float32) for r in rows]

    @staticmethod
    def name() -> str:
        return "toy-hash"


class FailOnceEmbedding(ToyEmbedding):
    """Raises the first time it sees the text ``"boom"`` (a flag file remembers it, across the
    worker processes), then works: a task that fails once and succeeds when Ray retries it."""

    def __init__(self, flag: str) -> None:
        self.flag = flag

    def __call__(self, input):
        if "boom" in input and not os.path.exists(self.flag):
            open(self.flag, "w").close()
            raise RuntimeError("injected failure")
        return super().__call__(input)
