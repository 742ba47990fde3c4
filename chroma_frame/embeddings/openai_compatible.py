"""Chroma's functions for OpenAI-compatible APIs: ``BasetenEmbeddingFunction`` and
``MorphEmbeddingFunction``, over :class:`.openai.OpenAIEmbeddingFunction`'s request.

Chroma 1.5.9's parameters, environment variables, persisted configs and errors, without the
``openai`` package.
"""

from __future__ import annotations

from typing import Any, ClassVar, Dict, List, Optional

from chroma_frame.embeddings.http_provider import HTTPEmbeddingFunction, api_key_from_env, check_config, openai_vectors
from chroma_frame.embeddings.openai import OpenAIEmbeddingFunction
from chroma_frame.embeddings.protocol import Documents, Embeddings, Space


class BasetenEmbeddingFunction(OpenAIEmbeddingFunction):
    """Embeddings from a model deployed on Baseten (its OpenAI-compatible endpoint at ``api_base``)."""

    def __init__(self, api_key: Optional[str], api_base: str, api_key_env_var: str = "CHROMA_BASETEN_API_KEY") -> None:
        self.api_key_env_var, self.api_key = api_key_from_env(
            api_key, api_key_env_var, "BASETEN_API_KEY",
            missing=f"API key not provided and {api_key_env_var} environment variable is not set.")
        if not api_base:
            raise ValueError("The api_base argument must be provided.")
        self.api_base = api_base
        self.model_name = "baseten-embedding-model"
        self.dimensions = None
        self.organization_id = self.api_type = self.api_version = self.deployment_id = None
        self.default_headers = None
        self.timeout, self.max_retries = 60.0, 2

    @staticmethod
    def name() -> str:
        return "baseten"

    def supported_spaces(self) -> List[Space]:
        return ["cosine", "l2", "ip"]

    def get_config(self) -> Dict[str, Any]:
        return {"api_base": self.api_base, "api_key_env_var": self.api_key_env_var}

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "BasetenEmbeddingFunction":
        if config.get("api_key_env_var") is None or config.get("api_base") is None:
            raise ValueError("Missing 'api_key_env_var' or 'api_base' in configuration for BasetenEmbeddingFunction.")
        return BasetenEmbeddingFunction(api_key=None, api_base=config["api_base"],
                                        api_key_env_var=config["api_key_env_var"])

    @staticmethod
    def validate_config(config: Dict[str, Any]) -> None:
        check_config(config, "baseten")


class MorphEmbeddingFunction(HTTPEmbeddingFunction):
    """Embeddings from Morph (https://morphllm.com), an OpenAI-compatible API."""

    PROVIDER = "Morph"
    IMMUTABLE: ClassVar[Dict[str, str]] = {"model_name": "model name"}

    def __init__(self, api_key: Optional[str] = None, model_name: str = "morph-embedding-v2",
                 api_base: str = "https://api.morphllm.com/v1", encoding_format: str = "float",
                 api_key_env_var: str = "MORPH_API_KEY") -> None:
        self.api_key_env_var, self.api_key = api_key_from_env(api_key, api_key_env_var)
        self.model_name = model_name
        self.api_base = api_base
        self.encoding_format = encoding_format

    def __call__(self, input: Documents) -> Embeddings:
        if not input:
            return []
        url = self.api_base.rstrip("/") + "/embeddings"
        payload = {"model": self.model_name, "input": list(input), "encoding_format": self.encoding_format}
        answer = self._post(url, payload, {"Authorization": f"Bearer {self.api_key}"})
        return openai_vectors(answer, len(payload["input"]), url, self.PROVIDER)

    @staticmethod
    def name() -> str:
        return "morph"

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "MorphEmbeddingFunction":
        return MorphEmbeddingFunction(api_key_env_var=config["api_key_env_var"], model_name=config["model_name"],
                                      api_base=config.get("api_base") or "https://api.morphllm.com/v1",
                                      encoding_format=config.get("encoding_format") or "float")

    def get_config(self) -> Dict[str, Any]:
        return {"api_key_env_var": self.api_key_env_var, "model_name": self.model_name,
                "api_base": self.api_base, "encoding_format": self.encoding_format}
