"""A loopback HTTP server that speaks OpenAI's /v1/embeddings and Ollama's /api/embed."""

from __future__ import annotations

import time
from typing import Any

from .fake_http import FakeHTTP


def fake_vector(text: str, dims: int = 4) -> list[float]:
    """Deterministic vector for ``text`` so tests can check order."""
    return [float(len(text)), float(sum(map(ord, text)) % 97)] + [0.25] * (dims - 2)


def _openai(request: dict) -> dict:
    body = request["body"]
    data = [{"object": "embedding", "index": i, "embedding": fake_vector(t)} for i, t in enumerate(body["input"])]
    return {"object": "list", "data": data[::-1], "model": body["model"]}


def _ollama(request: dict) -> Any:
    body = request["body"]
    if body.get("model") == "missing":
        return 404, {"error": 'model "missing" not found, try pulling it first'}
    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
    return {"model": body["model"], "embeddings": [fake_vector(t) for t in inputs]}


class FakeProvider(FakeHTTP):
    """Start with ``with FakeProvider() as fake``; ``fake.url``; scripted failures via ``fake.fail``."""

    def __init__(self) -> None:
        super().__init__({"/v1/embeddings": _openai, "/api/embed": _ollama})
        self.fail: list[tuple[int, dict, dict]] = []  # (status, body, headers), consumed in order
        self.delay = 0.0

    def answer(self, request: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            return self.fail.pop(0)
        return super().answer(request)
