"""``JinaEmbeddingFunction``: Jina AI's ``POST /v1/embeddings`` (texts, or texts and images).

Chroma 1.5.9's class, parameters (``task``, ``late_chunking``, ``query_config`` ...), environment
variables and persisted config, without httpx (Pillow is needed only for images).
"""

from __future__ import annotations

from typing import Any, Dict, Optional, TypedDict

from chroma_frame.embeddings.http_provider import (
    HTTPEmbeddingFunction,
    api_key_from_env,
    image_base64,
    is_image,
    openai_vectors,
)
from chroma_frame.embeddings.protocol import Embeddings


class JinaQueryConfig(TypedDict):
    task: str


_OPTIONS = ("task", "late_chunking", "truncate", "dimensions", "embedding_type", "normalized")


class JinaEmbeddingFunction(HTTPEmbeddingFunction):
    """Embeddings from Jina AI (https://jina.ai/embeddings)."""

    PROVIDER = "Jina AI"
    api_url = "https://api.jina.ai/v1/embeddings"

    def __init__(self, api_key: Optional[str] = None, model_name: str = "jina-embeddings-v2-base-en",
                 api_key_env_var: str = "CHROMA_JINA_API_KEY", task: Optional[str] = None,
                 late_chunking: Optional[bool] = None, truncate: Optional[bool] = None,
                 dimensions: Optional[int] = None, embedding_type: Optional[str] = None,
                 normalized: Optional[bool] = None, query_config: Optional[JinaQueryConfig] = None) -> None:
        self.api_key_env_var, self.api_key = api_key_from_env(api_key, api_key_env_var, "JINA_API_KEY")
        self.model_name = model_name
        self.task = task
        self.late_chunking = late_chunking
        self.truncate = truncate
        self.dimensions = dimensions
        self.embedding_type = embedding_type
        self.normalized = normalized
        self.query_config = query_config

    def _payload(self, input: Any, is_query: bool) -> Dict[str, Any]:
        items = list(input)
        if all(isinstance(item, str) for item in items):
            payload: Dict[str, Any] = {"input": items, "model": self.model_name}
        else:
            payload = {"input": [{"text": item} if isinstance(item, str) else {"image": image_base64(item)}
                                 for item in items if isinstance(item, str) or is_image(item)],
                       "model": self.model_name}
        for key in _OPTIONS:
            if getattr(self, key) is not None:
                payload[key] = getattr(self, key)
        if is_query and self.query_config is not None:
            payload.update(self.query_config)
        return payload

    def _embed(self, input: Any, is_query: bool) -> Embeddings:
        payload = self._payload(input, is_query)
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept-Encoding": "identity"}
        answer = self._post(self.api_url, payload, headers)  # HTTP errors: EmbeddingRequestError (a RuntimeError)
        if not isinstance(answer, dict) or "data" not in answer:
            raise RuntimeError(answer.get("detail", "Unknown error") if isinstance(answer, dict) else str(answer))
        return openai_vectors(answer, len(payload["input"]), self.api_url, self.PROVIDER)

    def __call__(self, input: Any) -> Embeddings:
        return self._embed(input, is_query=False)

    def embed_query(self, input: Any) -> Embeddings:
        return self._embed(input, is_query=True)

    @staticmethod
    def name() -> str:
        return "jina"

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "JinaEmbeddingFunction":
        return JinaEmbeddingFunction(
            api_key_env_var=config["api_key_env_var"], model_name=config["model_name"],
            **{key: config.get(key) for key in (*_OPTIONS, "query_config")})

    def get_config(self) -> Dict[str, Any]:
        return {"api_key_env_var": self.api_key_env_var, "model_name": self.model_name,
                **{key: getattr(self, key) for key in (*_OPTIONS, "query_config")}}
