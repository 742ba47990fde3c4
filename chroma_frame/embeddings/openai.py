"""``OpenAIEmbeddingFunction``: any OpenAI-compatible ``/embeddings`` endpoint, over plain HTTP.

Same parameters, environment variables and persisted config as Chroma 1.5.9's class (which
needs the ``openai`` package; this one needs nothing). Works with OpenAI, Azure OpenAI
(``api_type="azure"``), Ollama's ``/v1`` and any server speaking ``POST {api_base}/embeddings``.
The key is never persisted: the config names the environment variable that holds it.
``timeout`` and ``max_retries`` are chroma-frame extras and are not persisted either.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, cast
from urllib.parse import quote

from chroma_frame.embeddings.http_provider import api_key_from_env, openai_vectors
from chroma_frame.embeddings.protocol import Documents, EmbeddingFunction, Embeddings, Space
from chroma_frame.embeddings.transport import post_json

DEFAULT_API_BASE = "https://api.openai.com/v1"
MAX_INPUTS_PER_REQUEST = 2048


class OpenAIEmbeddingFunction(EmbeddingFunction[Documents]):
    """Embeddings from an OpenAI-compatible HTTP API."""

    def __init__(
        self,
        api_key: Optional[str] = None,
        model_name: str = "text-embedding-ada-002",
        organization_id: Optional[str] = None,
        api_base: Optional[str] = None,
        api_type: Optional[str] = None,
        api_version: Optional[str] = None,
        deployment_id: Optional[str] = None,
        default_headers: Optional[Dict[str, str]] = None,
        dimensions: Optional[int] = None,
        api_key_env_var: str = "CHROMA_OPENAI_API_KEY",
        *,
        timeout: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        # As in Chroma: a set OPENAI_API_KEY takes precedence over api_key_env_var.
        self.api_key_env_var, self.api_key = api_key_from_env(api_key, api_key_env_var, "OPENAI_API_KEY")

        self.model_name = model_name
        self.organization_id = organization_id
        self.api_base = api_base
        self.api_type = api_type
        self.api_version = api_version
        self.deployment_id = deployment_id
        self.default_headers = default_headers
        self.dimensions = dimensions
        self.timeout = timeout
        self.max_retries = max_retries

        if self.api_type == "azure":
            if self.api_version is None:
                raise ValueError("api_version must be specified for Azure OpenAI")
            if self.deployment_id is None:
                raise ValueError("deployment_id must be specified for Azure OpenAI")
            if self.api_base is None:
                raise ValueError("api_base must be specified for Azure OpenAI")

    def _endpoint(self) -> tuple[str, Dict[str, str]]:
        headers: Dict[str, str] = {}
        if self.api_type == "azure":
            base = cast(str, self.api_base).rstrip("/")
            url = (f"{base}/openai/deployments/{quote(cast(str, self.deployment_id))}/embeddings"
                   f"?api-version={quote(cast(str, self.api_version))}")
            headers["api-key"] = self.api_key
        else:
            url = (self.api_base or os.getenv("OPENAI_BASE_URL") or DEFAULT_API_BASE).rstrip("/") + "/embeddings"
            headers["Authorization"] = f"Bearer {self.api_key}"
        if self.organization_id is not None:
            headers["OpenAI-Organization"] = self.organization_id
        headers.update(self.default_headers or {})
        return url, headers

    def __call__(self, input: Documents) -> Embeddings:
        if not input:
            return []
        texts = [input] if isinstance(input, str) else list(input)
        url, headers = self._endpoint()
        out: Embeddings = []
        for start in range(0, len(texts), MAX_INPUTS_PER_REQUEST):
            chunk = texts[start : start + MAX_INPUTS_PER_REQUEST]
            payload: Dict[str, Any] = {"model": self.model_name, "input": chunk, "encoding_format": "float"}
            if self.dimensions is not None and "text-embedding-3" in self.model_name:
                payload["dimensions"] = self.dimensions
            answer = post_json(url, payload, headers=headers, timeout=self.timeout,
                               max_retries=self.max_retries, provider="OpenAI-compatible API")
            out.extend(openai_vectors(answer, len(chunk), url))
        return out

    @staticmethod
    def name() -> str:
        return "openai"

    def default_space(self) -> Space:
        return "cosine"

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "EmbeddingFunction[Documents]":
        OpenAIEmbeddingFunction.validate_config(config)
        return OpenAIEmbeddingFunction(
            api_key_env_var=config["api_key_env_var"],
            model_name=config["model_name"],
            organization_id=config.get("organization_id"),
            api_base=config.get("api_base"),
            api_type=config.get("api_type"),
            api_version=config.get("api_version"),
            deployment_id=config.get("deployment_id"),
            default_headers=config.get("default_headers"),
            dimensions=config.get("dimensions"),
        )

    def get_config(self) -> Dict[str, Any]:
        return {
            "api_key_env_var": self.api_key_env_var,
            "model_name": self.model_name,
            "organization_id": self.organization_id,
            "api_base": self.api_base,
            "api_type": self.api_type,
            "api_version": self.api_version,
            "deployment_id": self.deployment_id,
            "default_headers": self.default_headers,
            "dimensions": self.dimensions,
        }

    def validate_config_update(self, old_config: Dict[str, Any], new_config: Dict[str, Any]) -> None:
        if "model_name" in new_config:
            raise ValueError(
                "The model name cannot be changed after the embedding function has been initialized."
            )

    @staticmethod
    def validate_config(config: Dict[str, Any]) -> None:
        for key in ("api_key_env_var", "model_name"):
            if not isinstance(config.get(key), str):
                raise ValueError(f"openai embedding function config needs a string {key!r}")
        if config.get("dimensions") is not None and not isinstance(config["dimensions"], int):
            raise ValueError("openai embedding function config: 'dimensions' must be an integer or null")

