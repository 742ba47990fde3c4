"""``PerplexityEmbeddingFunction``: Perplexity's ``POST /v1/embeddings`` (base64 int8 vectors), without
the ``perplexityai`` package.

Chroma 1.5.9's class, parameters, environment variables and persisted config; vectors are the
decoded int8 values as float32, as Chroma returns them.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from chroma_frame.embeddings.http_provider import HTTPEmbeddingFunction, api_key_from_env, openai_vectors
from chroma_frame.embeddings.protocol import Documents, Embeddings


class PerplexityEmbeddingFunction(HTTPEmbeddingFunction):
    """Embeddings from Perplexity (https://docs.perplexity.ai/api-reference/embeddings-post)."""

    PROVIDER = "Perplexity"
    api_url = "https://api.perplexity.ai/v1/embeddings"

    def __init__(self, api_key: Optional[str] = None, model_name: str = "pplx-embed-v1-0.6b",
                 api_key_env_var: str = "PERPLEXITY_API_KEY", dimensions: Optional[int] = None) -> None:
        self.api_key_env_var, self.api_key = api_key_from_env(api_key, api_key_env_var, "PERPLEXITY_API_KEY")
        self.model_name = model_name
        self.dimensions = dimensions

    def __call__(self, input: Documents) -> Embeddings:
        texts = list(input)
        payload: Dict[str, Any] = {"input": texts, "model": self.model_name}
        if self.dimensions is not None:
            payload["dimensions"] = self.dimensions
        answer = self._post(self.api_url, payload, {"Authorization": f"Bearer {self.api_key}"})
        return openai_vectors(answer, len(texts), self.api_url, self.PROVIDER, base64_dtype="i1")

    @staticmethod
    def name() -> str:
        return "perplexity"

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "PerplexityEmbeddingFunction":
        return PerplexityEmbeddingFunction(api_key_env_var=config["api_key_env_var"], model_name=config["model_name"],
                                           dimensions=config.get("dimensions"))

    def get_config(self) -> Dict[str, Any]:
        return {"api_key_env_var": self.api_key_env_var, "model_name": self.model_name, "dimensions": self.dimensions}
