"""``ChromaCloudQwenEmbeddingFunction``: Qwen3 embeddings from Chroma Cloud's embedding service
(``POST $CHROMA_EMBED_URL``, default ``https://embed.trychroma.com``).

Chroma 1.5.9's class, enums, instructions, parameters and persisted config. The key comes from
``api_key_env_var`` (Chroma also borrows one from an open Chroma Cloud client; chroma-frame has none).
"""

from __future__ import annotations

import os
from enum import Enum
from typing import Any, ClassVar, Dict, List, Optional

from chroma_frame.embeddings.http_provider import HTTPEmbeddingFunction, vectors
from chroma_frame.embeddings.protocol import Documents, Embeddings

DEFAULT_CHROMA_EMBED_URL = "https://embed.trychroma.com"


class ChromaCloudQwenEmbeddingModel(Enum):
    QWEN3_EMBEDDING_0p6B = "Qwen/Qwen3-Embedding-0.6B"


class ChromaCloudQwenEmbeddingTarget(Enum):
    DOCUMENTS = "documents"
    QUERY = "query"


ChromaCloudQwenEmbeddingInstructions = Dict[str, Dict[ChromaCloudQwenEmbeddingTarget, str]]
CHROMA_CLOUD_QWEN_DEFAULT_INSTRUCTIONS: ChromaCloudQwenEmbeddingInstructions = {
    "nl_to_code": {
        ChromaCloudQwenEmbeddingTarget.DOCUMENTS: "",
        ChromaCloudQwenEmbeddingTarget.QUERY:
            "Given a question about coding, retrieval code or passage that can solve user's question",
    }
}


def get_chroma_embed_url() -> str:
    return (os.environ.get("CHROMA_EMBED_URL") or DEFAULT_CHROMA_EMBED_URL).rstrip("/")


def chroma_cloud_key(api_key_env_var: str) -> str:
    """The Chroma Cloud key from ``api_key_env_var`` (Chroma's error when unset; Chroma would also try
    the key of an open Chroma Cloud client, which chroma-frame does not have)."""
    key = os.getenv(api_key_env_var)
    if not key:
        raise ValueError(f"API key not found in environment variable {api_key_env_var} "
                         "or in any existing client instances")
    return key


class ChromaCloudQwenEmbeddingFunction(HTTPEmbeddingFunction):
    """Embeddings from Chroma Cloud's hosted Qwen3 model."""

    PROVIDER = "Chroma Cloud embedding service"
    IMMUTABLE: ClassVar[Dict[str, str]] = {"model": "model", "task": "task", "instructions": "instructions"}

    def __init__(self, model: ChromaCloudQwenEmbeddingModel, task: Optional[str],
                 instructions: ChromaCloudQwenEmbeddingInstructions = CHROMA_CLOUD_QWEN_DEFAULT_INSTRUCTIONS,
                 api_key_env_var: str = "CHROMA_API_KEY") -> None:
        self.api_key_env_var = api_key_env_var
        self.api_key = chroma_cloud_key(api_key_env_var)
        self.model = model
        self.task = task
        self.instructions = instructions

    def _embed(self, texts: List[str], target: ChromaCloudQwenEmbeddingTarget) -> Embeddings:
        if not texts:
            return []
        instruction = self.instructions[self.task][target] if self.task and self.task in self.instructions else ""
        url = get_chroma_embed_url()
        answer = self._post(url, {"instructions": instruction, "texts": texts},
                            {"x-chroma-token": str(self.api_key), "x-chroma-embedding-model": self.model.value})
        if not isinstance(answer, dict) or "embeddings" not in answer:
            raise RuntimeError(answer.get("error", "Unknown error") if isinstance(answer, dict) else str(answer))
        return vectors(answer["embeddings"], len(texts), url, self.PROVIDER)

    def __call__(self, input: Documents) -> Embeddings:
        return self._embed(list(input), ChromaCloudQwenEmbeddingTarget.DOCUMENTS)

    def embed_query(self, input: Documents) -> Embeddings:
        return self._embed(list(input), ChromaCloudQwenEmbeddingTarget.QUERY)

    @staticmethod
    def name() -> str:
        return "chroma-cloud-qwen"

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "ChromaCloudQwenEmbeddingFunction":
        instructions = CHROMA_CLOUD_QWEN_DEFAULT_INSTRUCTIONS
        if config.get("instructions") is not None:
            instructions = {task: {ChromaCloudQwenEmbeddingTarget(target): text for target, text in targets.items()}
                            for task, targets in config["instructions"].items()}
        return ChromaCloudQwenEmbeddingFunction(
            model=ChromaCloudQwenEmbeddingModel(config["model"]), task=config["task"], instructions=instructions,
            api_key_env_var=config.get("api_key_env_var") or "CHROMA_API_KEY")

    def get_config(self) -> Dict[str, Any]:
        instructions = {task: {target.value: text for target, text in targets.items()}
                        for task, targets in self.instructions.items()}
        return {"api_key_env_var": self.api_key_env_var, "model": self.model.value, "task": self.task,
                "instructions": instructions}
