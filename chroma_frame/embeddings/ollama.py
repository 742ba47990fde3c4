"""``OllamaEmbeddingFunction``: Ollama's native ``POST /api/embed``, over plain HTTP.

Same parameters and persisted config (``url``, ``model_name``, ``timeout``) as Chroma 1.5.9's class,
which needs the ``ollama`` package; this one needs nothing. ``max_retries`` is a chroma-frame extra
and is not persisted.
"""

from __future__ import annotations

from typing import Any, Dict
from urllib.parse import urlparse

import numpy as np

from chroma_frame.embeddings.protocol import Documents, EmbeddingFunction, Embeddings, Space
from chroma_frame.embeddings.transport import EmbeddingRequestError, post_json

DEFAULT_MODEL_NAME = "chroma/all-minilm-l6-v2-f32"


def _base_url(url: str) -> str:
    if "://" not in url:
        url = "http://" + url
    parsed = urlparse(url)
    # Older configs point at the endpoint itself (".../api/embeddings"); keep scheme and host.
    if parsed.path.rstrip("/").endswith(("/api/embeddings", "/api/embed")):
        return f"{parsed.scheme}://{parsed.netloc}"
    return url.rstrip("/")


class OllamaEmbeddingFunction(EmbeddingFunction[Documents]):
    """Embeddings from an Ollama server (https://github.com/ollama/ollama/blob/main/docs/api.md)."""

    def __init__(
        self,
        url: str = "http://localhost:11434",
        model_name: str = DEFAULT_MODEL_NAME,
        timeout: int = 60,
        *,
        max_retries: int = 2,
    ) -> None:
        self.url = url
        self.model_name = model_name
        self.timeout = timeout
        self.max_retries = max_retries
        self._base_url = _base_url(url)

    def __call__(self, input: Documents) -> Embeddings:
        texts = [input] if isinstance(input, str) else list(input)
        endpoint = f"{self._base_url}/api/embed"
        try:
            answer = post_json(endpoint, {"model": self.model_name, "input": texts},
                               timeout=self.timeout, max_retries=self.max_retries, provider="Ollama")
        except EmbeddingRequestError as e:
            if e.status == 404 and "not found" in str(e):
                raise EmbeddingRequestError(
                    f"{e} (run `ollama pull {self.model_name}` on the server)",
                    url=e.url, status=e.status, body=e.body) from None
            raise
        vectors = answer.get("embeddings") if isinstance(answer, dict) else None
        if not isinstance(vectors, list) or len(vectors) != len(texts):
            got = f"{len(vectors)} embeddings" if isinstance(vectors, list) else str(answer)[:200]
            raise EmbeddingRequestError(
                f"Ollama at {endpoint} answered with {got} for {len(texts)} inputs", url=endpoint)
        return [np.asarray(v, dtype=np.float32) for v in vectors]

    @staticmethod
    def name() -> str:
        return "ollama"

    def default_space(self) -> Space:
        return "cosine"

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "EmbeddingFunction[Documents]":
        OllamaEmbeddingFunction.validate_config(config)
        return OllamaEmbeddingFunction(
            url=config["url"], model_name=config["model_name"], timeout=config.get("timeout", 60)
        )

    def get_config(self) -> Dict[str, Any]:
        return {"url": self.url, "model_name": self.model_name, "timeout": self.timeout}

    def validate_config_update(self, old_config: Dict[str, Any], new_config: Dict[str, Any]) -> None:
        if "model_name" in new_config:
            raise ValueError(
                "The model name cannot be changed after the embedding function has been initialized."
            )

    @staticmethod
    def validate_config(config: Dict[str, Any]) -> None:
        for key in ("url", "model_name"):
            if not isinstance(config.get(key), str):
                raise ValueError(f"ollama embedding function config needs a string {key!r}")
