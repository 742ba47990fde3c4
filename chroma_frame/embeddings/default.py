"""Chroma's default embedding functions, computed locally by :mod:`.minilm`.

``DefaultEmbeddingFunction`` (name ``"default"``, config ``{}``, default space ``"l2"``) and
``ONNXMiniLM_L6_V2`` (name ``"onnx_mini_lm_l6_v2"``, default space ``"cosine"``) as in Chroma
1.5.9; both give sentence-transformers' all-MiniLM-L6-v2 vectors. Constructing one loads nothing:
the model is fetched (once) and loaded on the first call, and shared by every instance.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Dict, List, Optional, cast

from chroma_frame.embeddings.protocol import Documents, EmbeddingFunction, Embeddings, Space

MAX_TOKENS = 256


def _encode(input: Documents, providers: Optional[List[str]] = None) -> Embeddings:
    from chroma_frame.embeddings.minilm import get_encoder

    texts = [input] if isinstance(input, str) else list(input)
    if not all(isinstance(text, str) for text in texts):  # an image: Chroma's tokenizer.encode(document) says
        raise TypeError("TextInputSequence must be str")
    vectors = get_encoder(providers).encode(texts)
    return cast(Embeddings, list(vectors))


def _require(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ValueError(
            f"The {module} python package is not installed. Please install it with `pip install {module}`"
        )


class ONNXMiniLM_L6_V2(EmbeddingFunction[Documents]):
    """all-MiniLM-L6-v2 on onnxruntime (Chroma's ``ONNXMiniLM_L6_V2``), 384 dimensions."""

    MODEL_NAME = "all-MiniLM-L6-v2"

    def __init__(self, preferred_providers: Optional[List[str]] = None) -> None:
        if preferred_providers and not all(isinstance(i, str) for i in preferred_providers):
            raise ValueError("Preferred providers must be a list of strings")
        if preferred_providers and len(preferred_providers) != len(set(preferred_providers)):
            raise ValueError("Preferred providers must be unique")
        for module in ("onnxruntime", "tokenizers"):
            _require(module)
        self._preferred_providers = preferred_providers

    def __call__(self, input: Documents) -> Embeddings:
        providers = self._preferred_providers
        if providers:
            import onnxruntime

            available = onnxruntime.get_available_providers()
            if not set(providers).issubset(available):
                raise ValueError(
                    f"Preferred providers must be subset of available providers: {available}"
                )
            providers = [p for p in providers if p != "CoreMLExecutionProvider"] or None
        return _encode(input, providers)

    @staticmethod
    def name() -> str:
        return "onnx_mini_lm_l6_v2"

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> List[Space]:
        return ["cosine", "l2", "ip"]

    def max_tokens(self) -> int:
        return MAX_TOKENS

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "EmbeddingFunction[Documents]":
        return ONNXMiniLM_L6_V2(preferred_providers=config.get("preferred_providers"))

    def get_config(self) -> Dict[str, Any]:
        return {"preferred_providers": self._preferred_providers}

    def validate_config_update(self, old_config: Dict[str, Any], new_config: Dict[str, Any]) -> None:
        return

    @staticmethod
    def validate_config(config: Dict[str, Any]) -> None:
        providers = config.get("preferred_providers")
        if providers is not None and not (
            isinstance(providers, list) and all(isinstance(p, str) for p in providers)
        ):
            raise ValueError("preferred_providers must be a list of strings or null")


class DefaultEmbeddingFunction(EmbeddingFunction[Documents]):
    """Chroma's default: delegates to :class:`ONNXMiniLM_L6_V2`; name ``"default"``, config ``{}``."""

    def __init__(self) -> None:
        return

    def __call__(self, input: Documents) -> Embeddings:
        return _encode(input)

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "DefaultEmbeddingFunction":
        DefaultEmbeddingFunction.validate_config(config)
        return DefaultEmbeddingFunction()

    @staticmethod
    def name() -> str:
        return "default"

    def get_config(self) -> Dict[str, Any]:
        return {}

    def max_tokens(self) -> int:
        return MAX_TOKENS

    @staticmethod
    def validate_config(config: Dict[str, Any]) -> None:
        return
