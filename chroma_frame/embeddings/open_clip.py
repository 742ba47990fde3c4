"""Chroma's ``OpenCLIPEmbeddingFunction``: texts and images in one space, with OpenCLIP on torch.

The ``openclip`` extra installs its packages (``open-clip-torch``, ``torch``, ``pillow``); they are
imported when a function is made, never when this module is, and a missing one raises Chroma's
``ValueError``. Persisted as ``{"name": "open_clip", "config": {"model_name", "checkpoint",
"device"}}``, as Chroma does, so either library reopens the other's collections.
"""

from __future__ import annotations

import importlib
from typing import Any, Dict, List, Optional, cast

import numpy as np

from chroma_frame.embeddings.http_provider import PIL_MISSING, check_config
from chroma_frame.embeddings.protocol import Embeddable, Embedding, EmbeddingFunction, Embeddings, Space
from chroma_frame.validation import is_document, is_image

NAME = "open_clip"


def _require(module: str, message: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ValueError(message) from None


class OpenCLIPEmbeddingFunction(EmbeddingFunction[Embeddable]):
    """Embeddings of texts and images (numpy arrays) with an OpenCLIP model, unit length."""

    def __init__(self, model_name: str = "ViT-B-32", checkpoint: str = "laion2b_s34b_b79k",
                 device: Optional[str] = "cpu") -> None:
        open_clip = _require("open_clip", "The open_clip python package is not installed. Please install it with "
                             "`pip install open-clip-torch`. https://github.com/mlfoundations/open_clip")
        self._torch = _require("torch", "The torch python package is not installed. Please install it with "
                               "`pip install torch`")
        self._PILImage = _require("PIL.Image", PIL_MISSING)
        self.model_name = model_name
        self.checkpoint = checkpoint
        self.device = device
        model, _, preprocess = open_clip.create_model_and_transforms(model_name=model_name, pretrained=checkpoint)
        self._model = model
        self._model.to(device)
        self._preprocess = preprocess
        self._tokenizer = open_clip.get_tokenizer(model_name=model_name)

    def _encode_image(self, image: Any) -> Embedding:
        pil_image = self._PILImage.fromarray(image)
        with self._torch.no_grad():
            features = self._model.encode_image(self._preprocess(pil_image).unsqueeze(0).to(self.device))
            features /= features.norm(dim=-1, keepdim=True)
            return cast(Embedding, features.squeeze().cpu().numpy())

    def _encode_text(self, text: str) -> Embedding:
        with self._torch.no_grad():
            features = self._model.encode_text(self._tokenizer(text).to(self.device))
            features /= features.norm(dim=-1, keepdim=True)
            return cast(Embedding, features.squeeze().cpu().numpy())

    def __call__(self, input: Embeddable) -> Embeddings:
        """One embedding per image or text; other items are skipped, as in Chroma."""
        embeddings: Embeddings = []
        for item in input:
            if is_image(item):
                embeddings.append(np.array(self._encode_image(item), dtype=np.float32))
            elif is_document(item):
                embeddings.append(np.array(self._encode_text(cast(str, item)), dtype=np.float32))
        return embeddings

    @staticmethod
    def name() -> str:
        return NAME

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> List[Space]:
        return ["cosine", "l2", "ip"]

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "EmbeddingFunction[Embeddable]":
        model_name, checkpoint, device = (config.get(key) for key in ("model_name", "checkpoint", "device"))
        if model_name is None or checkpoint is None or device is None:
            raise AssertionError("This code should not be reached")  # Chroma's `assert False, ...`
        return OpenCLIPEmbeddingFunction(model_name=model_name, checkpoint=checkpoint, device=device)

    def get_config(self) -> Dict[str, Any]:
        return {"model_name": self.model_name, "checkpoint": self.checkpoint, "device": self.device}

    def validate_config_update(self, old_config: Dict[str, Any], new_config: Dict[str, Any]) -> None:
        if "model_name" in new_config:
            raise ValueError("The model name cannot be changed after the embedding function has been initialized.")
        if "checkpoint" in new_config:
            raise ValueError("The checkpoint cannot be changed after the embedding function has been initialized.")

    @staticmethod
    def validate_config(config: Dict[str, Any]) -> None:
        """Chroma's ``open_clip.json`` schema (``ValueError`` instead of jsonschema's error)."""
        check_config(config, NAME)


__all__ = ["NAME", "OpenCLIPEmbeddingFunction"]
