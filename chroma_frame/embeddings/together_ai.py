"""``TogetherAIEmbeddingFunction``: Together AI's ``POST /v1/embeddings``.

Chroma 1.5.9's class, parameters, environment variables, persisted config and input errors.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from chroma_frame.embeddings.http_provider import HTTPEmbeddingFunction, api_key_from_env, openai_vectors
from chroma_frame.embeddings.protocol import Documents, Embeddings


class TogetherAIEmbeddingFunction(HTTPEmbeddingFunction):
    """Embeddings from Together AI (https://docs.together.ai/reference/embeddings-2)."""

    PROVIDER = "Together AI"
    api_url = "https://api.together.xyz/v1/embeddings"

    def __init__(self, model_name: str, api_key: Optional[str] = None,
                 api_key_env_var: str = "CHROMA_TOGETHER_AI_API_KEY") -> None:
        self.model_name = model_name
        self.api_key_env_var, self.api_key = api_key_from_env(api_key, api_key_env_var, "TOGETHER_API_KEY")

    def __call__(self, input: Documents) -> Embeddings:
        if not input:
            raise ValueError("Input is required")
        if not isinstance(input, list):
            raise ValueError("Input must be a list")
        if not all(isinstance(item, str) for item in input):
            raise ValueError("All items in input must be strings")
        answer = self._post(self.api_url, {"model": self.model_name, "input": input},
                            {"Authorization": f"Bearer {self.api_key}"})
        return openai_vectors(answer, len(input), self.api_url, self.PROVIDER)

    @staticmethod
    def name() -> str:
        return "together_ai"

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "TogetherAIEmbeddingFunction":
        if config.get("api_key_env_var") is None or config.get("model_name") is None:
            raise ValueError("api_key_env_var and model_name must be provided")
        return TogetherAIEmbeddingFunction(model_name=config["model_name"], api_key_env_var=config["api_key_env_var"])

    def get_config(self) -> Dict[str, Any]:
        return {"api_key_env_var": self.api_key_env_var, "model_name": self.model_name}
