"""``SentenceTransformerEmbeddingFunction``: Chroma's wrapper, usable when sentence-transformers is installed.

chroma-frame never depends on sentence-transformers (or torch); constructing this class without it
raises Chroma's ``ValueError``. The default embedding function gives the same all-MiniLM-L6-v2
vectors without it.
"""

from __future__ import annotations

from typing import Any, ClassVar, Dict

import numpy as np

from chroma_frame.embeddings.protocol import Documents, EmbeddingFunction, Embeddings, Space


class SentenceTransformerEmbeddingFunction(EmbeddingFunction[Documents]):
    """Embeddings from a local ``sentence_transformers.SentenceTransformer`` model."""

    models: ClassVar[Dict[str, Any]] = {}

    def __init__(
        self,
        model_name: str = "all-MiniLM-L6-v2",
        device: str = "cpu",
        normalize_embeddings: bool = False,
        **kwargs: Any,
    ) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise ValueError(
                "The sentence_transformers python package is not installed. "
                "Please install it with `pip install sentence_transformers`"
            ) from e
        self.model_name = model_name
        self.device = device
        self.normalize_embeddings = normalize_embeddings
        for key, value in kwargs.items():
            if not isinstance(value, (str, int, float, bool, list, dict, tuple)):
                raise ValueError(f"Keyword argument {key} is not a primitive type")
        self.kwargs = kwargs
        if model_name not in self.models:
            self.models[model_name] = SentenceTransformer(model_name_or_path=model_name, device=device, **kwargs)
        self._model = self.models[model_name]

    def __call__(self, input: Documents) -> Embeddings:
        embeddings = self._model.encode(
            list(input), convert_to_numpy=True, normalize_embeddings=self.normalize_embeddings
        )
        return [np.array(embedding, dtype=np.float32) for embedding in embeddings]

    @staticmethod
    def name() -> str:
        return "sentence_transformer"

    def default_space(self) -> Space:
        return "cosine"

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "EmbeddingFunction[Documents]":
        for key in ("model_name", "device", "normalize_embeddings"):
            if config.get(key) is None:
                raise ValueError(f"sentence_transformer embedding function config needs {key!r}")
        return SentenceTransformerEmbeddingFunction(
            model_name=config["model_name"],
            device=config["device"],
            normalize_embeddings=config["normalize_embeddings"],
            **config.get("kwargs", {}),
        )

    def get_config(self) -> Dict[str, Any]:
        return {
            "model_name": self.model_name,
            "device": self.device,
            "normalize_embeddings": self.normalize_embeddings,
            "kwargs": self.kwargs,
        }

    def validate_config_update(self, old_config: Dict[str, Any], new_config: Dict[str, Any]) -> None:
        return
