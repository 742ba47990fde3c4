"""``RoboflowEmbeddingFunction``: CLIP embeddings of texts and images from Roboflow's inference API
(``POST /clip/embed_text`` and ``/clip/embed_image``, one item per call).

Chroma 1.5.9's class, parameters, environment variables and persisted config, without httpx
(Pillow is needed only for images).
"""

from __future__ import annotations

from typing import Any, ClassVar, Dict, Optional
from urllib.parse import quote

from chroma_frame.embeddings.http_provider import (
    HTTPEmbeddingFunction,
    api_key_from_env,
    image_base64,
    is_image,
    vectors,
)
from chroma_frame.embeddings.protocol import Embeddings


class RoboflowEmbeddingFunction(HTTPEmbeddingFunction):
    """Embeddings from Roboflow's hosted (or self-hosted) inference server at ``api_url``."""

    PROVIDER = "Roboflow"
    IMMUTABLE: ClassVar[Dict[str, str]] = {}

    def __init__(self, api_key: Optional[str] = None, api_url: str = "https://infer.roboflow.com",
                 api_key_env_var: str = "CHROMA_ROBOFLOW_API_KEY") -> None:
        self.api_key_env_var, self.api_key = api_key_from_env(api_key, api_key_env_var, "ROBOFLOW_API_KEY")
        self.api_url = api_url

    def __call__(self, input: Any) -> Embeddings:
        out: Embeddings = []
        key = quote(str(self.api_key), safe="")
        for item in input:
            if is_image(item):
                url = f"{self.api_url}/clip/embed_image?api_key={key}"
                payload: Dict[str, Any] = {"image": {"type": "base64", "value": image_base64(item, "JPEG")}}
            elif isinstance(item, str):
                url, payload = f"{self.api_url}/clip/embed_text?api_key={key}", {"text": item}
            else:
                continue  # as Chroma: neither a text nor an image gives nothing
            answer = self._post(url, payload)
            found = answer.get("embeddings") if isinstance(answer, dict) else None
            out.extend(vectors(found[:1] if isinstance(found, list) else found, 1, url.split("?")[0], self.PROVIDER))
        return out

    @staticmethod
    def name() -> str:
        return "roboflow"

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "RoboflowEmbeddingFunction":
        return RoboflowEmbeddingFunction(api_key_env_var=config["api_key_env_var"], api_url=config["api_url"])

    def get_config(self) -> Dict[str, Any]:
        return {"api_key_env_var": self.api_key_env_var, "api_url": self.api_url}
