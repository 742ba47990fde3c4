"""What Chroma's HTTP-API embedding functions share, for chroma-frame's versions of them.

The API key rule (an explicit key warns and is not persisted; a provider's well-known variable,
when set, wins over ``api_key_env_var``), Chroma's config checks (its JSON schemas), the answer
shapes (OpenAI's ``data[].embedding``, plain lists of vectors) and images sent as base64. Requests
go through :mod:`.transport`, the one HTTP path of the embedding functions.
"""

from __future__ import annotations

import base64
import io
import os
import warnings
from typing import Any, ClassVar, Dict, List, Mapping, Optional, Sequence

import numpy as np

from chroma_frame.embeddings.config_schemas import SCHEMAS
from chroma_frame.embeddings.protocol import Documents, EmbeddingFunction, Embeddings, Space
from chroma_frame.embeddings.transport import EmbeddingRequestError, post_json
from chroma_frame.validation import is_image as is_image  # Chroma's, for the providers that take images

DIRECT_KEY_WARNING = ("Direct api_key configuration will not be persisted. "
                      "Please use environment variables via api_key_env_var for persistent storage.")

PIL_MISSING = "The PIL python package is not installed. Please install it with `pip install pillow`"


def api_key_from_env(api_key: Optional[str], api_key_env_var: str, preferred_env: Optional[str] = None,
                     missing: Optional[str] = None) -> tuple[str, str]:
    """``(env var persisted, key)`` by Chroma's rule; ``ValueError`` (Chroma's text) without a key."""
    if api_key is not None:
        warnings.warn(DIRECT_KEY_WARNING, DeprecationWarning, stacklevel=3)
    env_var = preferred_env if preferred_env is not None and os.getenv(preferred_env) is not None else api_key_env_var
    key = api_key or os.getenv(env_var)
    if not key:
        raise ValueError(missing or f"The {env_var} environment variable is not set.")
    return env_var, key


def image_base64(image: np.ndarray, fmt: str = "PNG") -> str:
    """``image`` encoded as ``fmt`` (Pillow, an optional dependency), base64."""
    try:
        from PIL import Image
    except ImportError:
        raise ValueError(PIL_MISSING) from None
    buffer = io.BytesIO()
    try:
        Image.fromarray(image).save(buffer, format=fmt)
    except Exception as e:
        raise ValueError(f"Failed to convert image numpy array to base64 data URI: {e}") from e
    return base64.b64encode(buffer.getvalue()).decode("utf-8")


def texts_only(input: Sequence[Any], message: str) -> List[str]:
    """``input`` as a list of strings; ``ValueError(message)`` when an item is not one."""
    if not all(isinstance(item, str) for item in input):
        raise ValueError(message)
    return list(input)


def vectors(items: Any, expected: int, url: str, provider: str) -> Embeddings:
    """float32 vectors of a list answer; :class:`EmbeddingRequestError` when the count is wrong."""
    if not isinstance(items, list) or len(items) != expected:
        got = f"{len(items)} embeddings" if isinstance(items, list) else str(items)[:200]
        raise EmbeddingRequestError(f"{provider} at {url} answered with {got} for {expected} inputs", url=url)
    if not all(isinstance(v, list) for v in items):
        raise EmbeddingRequestError(f"{provider} at {url} answered without vectors: {str(items)[:200]}", url=url)
    return [np.asarray(v, dtype=np.float32) for v in items]


def openai_vectors(answer: Any, expected: int, url: str, provider: str = "OpenAI-compatible API",
                   base64_dtype: str = "<f4") -> Embeddings:
    """Vectors of an OpenAI-style answer (``data[].embedding``, float lists or base64 of ``base64_dtype``
    numbers), as float32, in input order."""
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, list) or len(data) != expected:
        got = f"{len(data)} embeddings" if isinstance(data, list) else f"{str(answer)[:200]}"
        raise EmbeddingRequestError(f"{provider} at {url} answered with {got} for {expected} inputs", url=url)
    if all(isinstance(item, dict) and "index" in item for item in data):
        data = sorted(data, key=lambda item: item["index"])
    out: Embeddings = []
    for item in data:
        value = item.get("embedding") if isinstance(item, dict) else None
        if isinstance(value, str):
            out.append(np.frombuffer(base64.b64decode(value), dtype=base64_dtype).astype(np.float32))
        elif isinstance(value, list):
            out.append(np.asarray(value, dtype=np.float32))
        else:
            raise EmbeddingRequestError(f"{provider} at {url} answered without an 'embedding'", url=url)
    return out


def chunks(items: Sequence[Any], size: int) -> List[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# -- Chroma's config schemas -------------------------------------------------------------------------

def check_config(config: Mapping[str, Any], schema_name: str) -> None:
    """Chroma's ``validate_config_schema`` (jsonschema over its schema files), as a ``ValueError``
    with Chroma's wording."""
    import jsonschema

    try:
        jsonschema.validate(instance=config, schema=SCHEMAS[schema_name])
    except jsonschema.ValidationError as e:
        path = "/".join(str(part) for part in e.path)
        raise ValueError(f"Config validation failed for schema '{schema_name}': {e.message}"
                         + (f" at path '{path}'" if path else "")) from None


# -- the base class --------------------------------------------------------------------------------


class HTTPEmbeddingFunction(EmbeddingFunction[Documents]):
    """A provider's embedding function over :func:`~.transport.post_json`.

    ``timeout`` (seconds) and ``max_retries`` may be set on an instance; they are not persisted.
    Subclasses name the config keys that cannot change (``IMMUTABLE``: key -> words of the message).
    """

    PROVIDER: ClassVar[str] = "embedding API"
    IMMUTABLE: ClassVar[Dict[str, str]] = {"model_name": "model name"}
    timeout: float = 60.0
    max_retries: int = 2

    def _post(self, url: str, payload: Mapping[str, Any], headers: Optional[Mapping[str, str]] = None,
              data: Optional[bytes] = None) -> Any:
        return post_json(url, payload, headers=headers, timeout=self.timeout, max_retries=self.max_retries,
                         provider=self.PROVIDER, data=data)

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> List[Space]:
        return ["cosine", "l2", "ip"]

    def validate_config_update(self, old_config: Dict[str, Any], new_config: Dict[str, Any]) -> None:
        for key, words in self.IMMUTABLE.items():
            if key in new_config:
                raise ValueError(f"The {words} cannot be changed after the embedding function has been initialized.")

    @classmethod
    def validate_config(cls, config: Dict[str, Any]) -> None:
        check_config(config, cls.name())
