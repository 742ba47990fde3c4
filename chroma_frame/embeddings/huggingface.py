"""HuggingFace: the Inference API (``HuggingFaceEmbeddingFunction``) and a text-embeddings-inference
server (``HuggingFaceEmbeddingServer``), both ``{"inputs": [...]}`` -> a list of vectors.

Chroma 1.5.9's classes, parameters, environment variables and persisted configs, without httpx.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, ClassVar, Dict, Optional

from chroma_frame.embeddings.http_provider import DIRECT_KEY_WARNING, HTTPEmbeddingFunction, api_key_from_env, vectors
from chroma_frame.embeddings.protocol import Documents, Embeddings


class HuggingFaceEmbeddingFunction(HTTPEmbeddingFunction):
    """Embeddings from HuggingFace's Inference API (feature-extraction pipeline)."""

    PROVIDER = "HuggingFace Inference API"
    api_base = "https://api-inference.huggingface.co/pipeline/feature-extraction"

    def __init__(self, api_key: Optional[str] = None, model_name: str = "sentence-transformers/all-MiniLM-L6-v2",
                 api_key_env_var: str = "CHROMA_HUGGINGFACE_API_KEY") -> None:
        self.api_key_env_var, self.api_key = api_key_from_env(api_key, api_key_env_var, "HUGGINGFACE_API_KEY")
        self.model_name = model_name

    def __call__(self, input: Documents) -> Embeddings:
        texts = list(input)
        url = f"{self.api_base}/{self.model_name}"
        answer = self._post(url, {"inputs": texts, "options": {"wait_for_model": True}},
                            {"Authorization": f"Bearer {self.api_key}"})
        return vectors(answer, len(texts), url, self.PROVIDER)

    @staticmethod
    def name() -> str:
        return "huggingface"

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "HuggingFaceEmbeddingFunction":
        return HuggingFaceEmbeddingFunction(api_key_env_var=config["api_key_env_var"], model_name=config["model_name"])

    def get_config(self) -> Dict[str, Any]:
        return {"api_key_env_var": self.api_key_env_var, "model_name": self.model_name}


class HuggingFaceEmbeddingServer(HTTPEmbeddingFunction):
    """Embeddings from a text-embeddings-inference server at ``url`` (its ``/embed`` endpoint)."""

    PROVIDER = "HuggingFace embedding server"
    IMMUTABLE: ClassVar[Dict[str, str]] = {}

    def __init__(self, url: str, api_key_env_var: Optional[str] = None, api_key: Optional[str] = None) -> None:
        if api_key is not None:
            warnings.warn(DIRECT_KEY_WARNING, DeprecationWarning, stacklevel=2)
        self.url = url
        self.api_key_env_var = api_key_env_var
        if os.getenv("HUGGINGFACE_API_KEY") is not None:
            self.api_key_env_var = "HUGGINGFACE_API_KEY"
        self.api_key = api_key or (os.getenv(self.api_key_env_var) if self.api_key_env_var is not None else None)

    def __call__(self, input: Documents) -> Embeddings:
        texts = list(input)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key is not None else {}
        return vectors(self._post(self.url, {"inputs": texts}, headers), len(texts), self.url, self.PROVIDER)

    @staticmethod
    def name() -> str:
        return "huggingface_server"

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "HuggingFaceEmbeddingServer":
        if config.get("url") is None:
            raise ValueError("URL must be provided for HuggingFaceEmbeddingServer")
        return HuggingFaceEmbeddingServer(url=config["url"], api_key_env_var=config.get("api_key_env_var"))

    def get_config(self) -> Dict[str, Any]:
        return {"url": self.url, "api_key_env_var": self.api_key_env_var}

    def validate_config_update(self, old_config: Dict[str, Any], new_config: Dict[str, Any]) -> None:
        if "url" in new_config and new_config["url"] != self.url:
            raise ValueError("The URL cannot be changed after the embedding function has been initialized.")
