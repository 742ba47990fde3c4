"""``CloudflareWorkersAIEmbeddingFunction``: Workers AI's ``POST .../ai/run/{model}`` (or through an AI Gateway).

Chroma 1.5.9's class, parameters, environment variables and persisted config.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from chroma_frame.embeddings.http_provider import HTTPEmbeddingFunction, api_key_from_env, texts_only, vectors
from chroma_frame.embeddings.protocol import Documents, Embeddings

BASE_URL = "https://api.cloudflare.com/client/v4/accounts"
GATEWAY_BASE_URL = "https://gateway.ai.cloudflare.com/v1"


class CloudflareWorkersAIEmbeddingFunction(HTTPEmbeddingFunction):
    """Embeddings from Cloudflare Workers AI (https://developers.cloudflare.com/workers-ai/)."""

    PROVIDER = "Cloudflare Workers AI"
    base_url = BASE_URL
    gateway_base_url = GATEWAY_BASE_URL

    def __init__(self, model_name: str, account_id: str, api_key: Optional[str] = None,
                 api_key_env_var: str = "CHROMA_CLOUDFLARE_API_KEY", gateway_id: Optional[str] = None) -> None:
        self.model_name = model_name
        self.account_id = account_id
        self.api_key_env_var, self.api_key = api_key_from_env(api_key, api_key_env_var, "CLOUDFLARE_API_KEY")
        self.gateway_id = gateway_id

    @property
    def api_url(self) -> str:
        if self.gateway_id:
            return f"{self.gateway_base_url}/{self.account_id}/{self.gateway_id}/workers-ai/{self.model_name}"
        return f"{self.base_url}/{self.account_id}/ai/run/{self.model_name}"

    def __call__(self, input: Documents) -> Embeddings:
        texts = texts_only(input, "Cloudflare Workers AI only supports text documents, not images")
        url = self.api_url
        answer = self._post(url, {"text": texts},
                            {"Authorization": f"Bearer {self.api_key}", "Accept-Encoding": "identity"})
        result = answer.get("result") if isinstance(answer, dict) else None
        if not isinstance(result, dict) or "data" not in result:
            raise RuntimeError(answer.get("detail", "Unknown error") if isinstance(answer, dict) else str(answer))
        return vectors(result["data"], len(texts), url, self.PROVIDER)

    @staticmethod
    def name() -> str:
        return "cloudflare_workers_ai"

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "CloudflareWorkersAIEmbeddingFunction":
        return CloudflareWorkersAIEmbeddingFunction(
            api_key_env_var=config["api_key_env_var"], model_name=config["model_name"],
            account_id=config["account_id"], gateway_id=config.get("gateway_id"))

    def get_config(self) -> Dict[str, Any]:
        return {"api_key_env_var": self.api_key_env_var, "model_name": self.model_name,
                "account_id": self.account_id, "gateway_id": self.gateway_id}
