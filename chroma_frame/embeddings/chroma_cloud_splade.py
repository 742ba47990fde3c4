"""``ChromaCloudSpladeEmbeddingFunction``: SPLADE sparse vectors from Chroma Cloud's embedding service
(``POST $CHROMA_EMBED_URL/embed_sparse``).

Chroma 1.5.9's class, model enum, parameters and persisted config; the key comes from
``api_key_env_var``.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Dict, List, Optional

from chroma_frame.base_types import SparseVector
from chroma_frame.embeddings.chroma_cloud_qwen import chroma_cloud_key, get_chroma_embed_url
from chroma_frame.embeddings.http_provider import check_config
from chroma_frame.embeddings.protocol import Documents
from chroma_frame.embeddings.sparse import SparseEmbeddingFunction, SparseVectors
from chroma_frame.embeddings.transport import post_json


class ChromaCloudSpladeEmbeddingModel(Enum):
    SPLADE_PP_EN_V1 = "prithivida/Splade_PP_en_v1"


class ChromaCloudSpladeEmbeddingFunction(SparseEmbeddingFunction[Documents]):
    """Sparse SPLADE embeddings from Chroma Cloud."""

    timeout: float = 60.0
    max_retries: int = 2

    def __init__(self, api_key_env_var: str = "CHROMA_API_KEY",
                 model: ChromaCloudSpladeEmbeddingModel = ChromaCloudSpladeEmbeddingModel.SPLADE_PP_EN_V1,
                 include_tokens: bool = False) -> None:
        self.api_key_env_var = api_key_env_var
        self.api_key = chroma_cloud_key(api_key_env_var)
        self.model = model
        self.include_tokens = bool(include_tokens)

    def __call__(self, input: Documents) -> SparseVectors:
        if not input:
            return []
        payload = {"texts": list(input), "task": "", "target": "",
                   "fetch_tokens": "true" if self.include_tokens else "false"}
        headers = {"x-chroma-token": str(self.api_key), "x-chroma-embedding-model": self.model.value}
        answer = post_json(f"{get_chroma_embed_url()}/embed_sparse", payload, headers=headers, timeout=self.timeout,
                           max_retries=self.max_retries, provider="Chroma Cloud embedding service")
        return [self._vector(item) for item in answer["embeddings"]]

    def _vector(self, item: Dict[str, Any]) -> SparseVector:
        labels: Optional[List[str]] = (item.get("labels") or None) if self.include_tokens else None
        order = sorted(range(len(item.get("indices", []))), key=lambda i: item["indices"][i])
        return SparseVector(indices=[item["indices"][i] for i in order], values=[item["values"][i] for i in order],
                            labels=[labels[i] for i in order] if labels is not None else None)

    @staticmethod
    def name() -> str:
        return "chroma-cloud-splade"

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "ChromaCloudSpladeEmbeddingFunction":
        if config.get("model") is None:
            raise ValueError("model must be provided in config")
        if not config.get("api_key_env_var"):
            raise ValueError("api_key_env_var must be provided in config")
        return ChromaCloudSpladeEmbeddingFunction(api_key_env_var=config["api_key_env_var"],
                                                  model=ChromaCloudSpladeEmbeddingModel(config["model"]),
                                                  include_tokens=config.get("include_tokens", False))

    def get_config(self) -> Dict[str, Any]:
        return {"api_key_env_var": self.api_key_env_var, "model": self.model.value,
                "include_tokens": self.include_tokens}

    def validate_config_update(self, old_config: Dict[str, Any], new_config: Dict[str, Any]) -> None:
        for key in ("include_tokens", "model"):
            if key in new_config and new_config[key] != old_config.get(key):
                raise ValueError(f"Updating '{key}' is not supported for chroma-cloud-splade")

    @staticmethod
    def validate_config(config: Dict[str, Any]) -> None:
        check_config(config, "chroma-cloud-splade")
