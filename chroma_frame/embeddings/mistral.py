"""``MistralEmbeddingFunction``: Mistral's ``POST /v1/embeddings``, without the ``mistralai`` package.

Chroma 1.5.9's class, parameters (``model``, ``api_key_env_var``) and persisted config.
"""

from __future__ import annotations

from typing import Any, ClassVar, Dict

from chroma_frame.embeddings.http_provider import HTTPEmbeddingFunction, api_key_from_env, openai_vectors, texts_only
from chroma_frame.embeddings.protocol import Documents, Embeddings


class MistralEmbeddingFunction(HTTPEmbeddingFunction):
    """Embeddings from Mistral AI (https://docs.mistral.ai/api/#tag/embeddings)."""

    PROVIDER = "Mistral AI"
    IMMUTABLE: ClassVar[Dict[str, str]] = {"model": "model"}
    api_url = "https://api.mistral.ai/v1/embeddings"

    def __init__(self, model: str, api_key_env_var: str = "MISTRAL_API_KEY") -> None:
        self.model = model
        self.api_key_env_var, self.api_key = api_key_from_env(None, api_key_env_var)

    def __call__(self, input: Documents) -> Embeddings:
        texts = texts_only(input, "Mistral only supports text documents, not images")
        answer = self._post(self.api_url, {"model": self.model, "input": texts},
                            {"Authorization": f"Bearer {self.api_key}"})
        return openai_vectors(answer, len(texts), self.api_url, self.PROVIDER)

    @staticmethod
    def name() -> str:
        return "mistral"

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "MistralEmbeddingFunction":
        return MistralEmbeddingFunction(model=config["model"], api_key_env_var=config["api_key_env_var"])

    def get_config(self) -> Dict[str, Any]:
        return {"model": self.model, "api_key_env_var": self.api_key_env_var}
