"""``VoyageAIEmbeddingFunction``: Voyage AI's ``POST /v1/embeddings``, without the ``voyageai`` package.

Chroma 1.5.9's class, parameters, environment variables and persisted config.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from chroma_frame.embeddings.http_provider import HTTPEmbeddingFunction, api_key_from_env, chunks, openai_vectors
from chroma_frame.embeddings.protocol import Documents, Embeddings

MAX_INPUTS_PER_REQUEST = 128  # the smallest of Voyage's per-model limits


class VoyageAIEmbeddingFunction(HTTPEmbeddingFunction):
    """Embeddings from Voyage AI (https://docs.voyageai.com/reference/embeddings-api)."""

    PROVIDER = "Voyage AI"
    api_url = "https://api.voyageai.com/v1/embeddings"

    def __init__(self, api_key: Optional[str] = None, model_name: str = "voyage-large-2",
                 api_key_env_var: str = "CHROMA_VOYAGE_API_KEY", input_type: Optional[str] = None,
                 truncation: bool = True) -> None:
        self.api_key_env_var, self.api_key = api_key_from_env(api_key, api_key_env_var, "VOYAGE_API_KEY")
        self.model_name = model_name
        self.input_type = input_type
        self.truncation = truncation

    def __call__(self, input: Documents) -> Embeddings:
        out: Embeddings = []
        for part in chunks(list(input), MAX_INPUTS_PER_REQUEST):
            payload: Dict[str, Any] = {"input": list(part), "model": self.model_name, "truncation": self.truncation}
            if self.input_type is not None:
                payload["input_type"] = self.input_type
            answer = self._post(self.api_url, payload, {"Authorization": f"Bearer {self.api_key}"})
            out.extend(openai_vectors(answer, len(part), self.api_url, self.PROVIDER))
        return out

    @staticmethod
    def name() -> str:
        return "voyageai"

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "VoyageAIEmbeddingFunction":
        truncation = config.get("truncation")
        return VoyageAIEmbeddingFunction(api_key_env_var=config["api_key_env_var"], model_name=config["model_name"],
                                         input_type=config.get("input_type"),
                                         truncation=truncation if truncation is not None else True)

    def get_config(self) -> Dict[str, Any]:
        return {"api_key_env_var": self.api_key_env_var, "model_name": self.model_name,
                "input_type": self.input_type, "truncation": self.truncation}
