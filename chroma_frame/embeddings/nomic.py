"""``NomicEmbeddingFunction``: Nomic's ``POST /v1/embedding/text``, without the ``nomic`` package.

Chroma 1.5.9's class, parameters (``model``, ``task_type``, ``query_config``) and persisted config.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, Dict, Optional, TypedDict

from chroma_frame.embeddings.http_provider import HTTPEmbeddingFunction, texts_only, vectors
from chroma_frame.embeddings.protocol import Documents, Embeddings


class NomicQueryConfig(TypedDict):
    task_type: str


class NomicEmbeddingFunction(HTTPEmbeddingFunction):
    """Embeddings from Nomic Atlas (https://docs.nomic.ai/reference/api/embed-text-v-1-embedding-text-post)."""

    PROVIDER = "Nomic"
    IMMUTABLE: ClassVar[Dict[str, str]] = {"model": "model"}
    api_url = "https://api-atlas.nomic.ai/v1/embedding/text"

    def __init__(self, model: str, task_type: str, query_config: Optional[NomicQueryConfig],
                 api_key_env_var: str = "NOMIC_API_KEY") -> None:
        self.model = model
        self.task_type = task_type
        self.api_key_env_var = api_key_env_var
        self.api_key = os.getenv(api_key_env_var)
        self.query_config = query_config
        if not self.api_key:
            raise ValueError(f"The {api_key_env_var} environment variable is not set.")

    def _embed(self, texts: list, task_type: str) -> Embeddings:
        answer = self._post(self.api_url, {"model": self.model, "texts": texts, "task_type": task_type},
                            {"Authorization": f"Bearer {self.api_key}"})
        found = answer.get("embeddings") if isinstance(answer, dict) else None
        return vectors(found, len(texts), self.api_url, self.PROVIDER)

    def __call__(self, input: Documents) -> Embeddings:
        return self._embed(texts_only(input, "Nomic only supports text documents, not images"), self.task_type)

    def embed_query(self, input: Documents) -> Embeddings:
        texts = texts_only(input, "Nomic only supports text queries, not images")
        return self._embed(texts, self.query_config.get("task_type") if self.query_config else self.task_type)

    @staticmethod
    def name() -> str:
        return "nomic"

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "NomicEmbeddingFunction":
        return NomicEmbeddingFunction(model=config["model"], api_key_env_var=config["api_key_env_var"],
                                      task_type=config["task_type"], query_config=config.get("query_config"))

    def get_config(self) -> Dict[str, Any]:
        return {"model": self.model, "api_key_env_var": self.api_key_env_var, "task_type": self.task_type,
                "query_config": self.query_config}
