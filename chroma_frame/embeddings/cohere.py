"""``CohereEmbeddingFunction``: Cohere's ``POST /v1/embed`` (texts, or images as PNG data URIs).

Chroma 1.5.9's class, parameters, environment variables and persisted config, without the
``cohere`` package (Pillow is needed only for images).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from chroma_frame.embeddings.http_provider import (
    HTTPEmbeddingFunction,
    api_key_from_env,
    chunks,
    image_base64,
    is_image,
    vectors,
)
from chroma_frame.embeddings.protocol import Embeddings, Space

MAX_INPUTS_PER_REQUEST = 96  # Cohere's limit per call


class CohereEmbeddingFunction(HTTPEmbeddingFunction):
    """Embeddings from Cohere (https://docs.cohere.com/reference/embed)."""

    PROVIDER = "Cohere"
    api_base = "https://api.cohere.com"

    def __init__(self, api_key: Optional[str] = None, model_name: str = "large",
                 api_key_env_var: str = "CHROMA_COHERE_API_KEY") -> None:
        self.api_key_env_var, self.api_key = api_key_from_env(api_key, api_key_env_var, "COHERE_API_KEY")
        self.model_name = model_name

    def __call__(self, input: Any) -> Embeddings:
        items = list(input)
        if all(isinstance(item, str) for item in items):
            key, kind, values = "texts", "search_document", items
        elif all(is_image(item) for item in items):
            key, kind = "images", "image"
            values = [f"data:image/png;base64,{image_base64(item)}" for item in items]
        elif any(isinstance(item, str) for item in items) and any(is_image(item) for item in items):
            raise ValueError("Input contains a mix of text documents and images, which is not supported. "
                             "Provide either all texts or all images.")
        else:
            raise ValueError("Input must be a list of text documents (str) or a list of images (numpy arrays).")
        url = f"{self.api_base}/v1/embed"
        out: Embeddings = []
        for part in chunks(values, MAX_INPUTS_PER_REQUEST):
            answer = self._post(url, {key: list(part), "model": self.model_name, "input_type": kind},
                                {"Authorization": f"Bearer {self.api_key}"})
            found = answer.get("embeddings") if isinstance(answer, dict) else None
            if isinstance(found, dict):  # answers asked with embedding_types: {"float": [...]}
                found = found.get("float")
            out.extend(vectors(found, len(part), url, self.PROVIDER))
        return out

    @staticmethod
    def name() -> str:
        return "cohere"

    def default_space(self) -> Space:
        return "ip" if self.model_name == "embed-multilingual-v2.0" else "cosine"

    def supported_spaces(self) -> List[Space]:
        if self.model_name in ("embed-english-v2.0", "embed-english-light-v2.0"):
            return ["cosine"]
        if self.model_name == "embed-multilingual-v2.0":
            return ["ip"]
        return ["cosine", "l2", "ip"]

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "CohereEmbeddingFunction":
        return CohereEmbeddingFunction(api_key_env_var=config["api_key_env_var"], model_name=config["model_name"])

    def get_config(self) -> Dict[str, Any]:
        return {"api_key_env_var": self.api_key_env_var, "model_name": self.model_name}
