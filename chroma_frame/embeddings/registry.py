"""Known embedding functions, their persisted form, and Chroma's conflict rules.

A collection stores its function in ``configuration_json["embedding_function"]`` as
``{"name": ..., "type": "known", "config": ...}`` or ``{"type": "legacy"}``
(:func:`config_from_ef`), and rebuilds it from there (:func:`ef_from_config`). The Client goes
through :mod:`.binding`, which applies these rules in Chroma's order; the pieces are public for
other callers (the HTTP server stores configs verbatim and never builds them).
"""

from __future__ import annotations

import warnings
from typing import Any, Dict, List, Literal, Optional, Type

from chroma_frame.embeddings.bedrock import AmazonBedrockEmbeddingFunction
from chroma_frame.embeddings.chroma_bm25 import ChromaBm25EmbeddingFunction
from chroma_frame.embeddings.chroma_cloud_qwen import ChromaCloudQwenEmbeddingFunction
from chroma_frame.embeddings.chroma_cloud_splade import ChromaCloudSpladeEmbeddingFunction
from chroma_frame.embeddings.cloudflare import CloudflareWorkersAIEmbeddingFunction
from chroma_frame.embeddings.cohere import CohereEmbeddingFunction
from chroma_frame.embeddings.default import DefaultEmbeddingFunction, ONNXMiniLM_L6_V2
from chroma_frame.embeddings.google import GoogleGeminiEmbeddingFunction, GoogleGenerativeAiEmbeddingFunction
from chroma_frame.embeddings.huggingface import HuggingFaceEmbeddingFunction, HuggingFaceEmbeddingServer
from chroma_frame.embeddings.jina import JinaEmbeddingFunction
from chroma_frame.embeddings.mistral import MistralEmbeddingFunction
from chroma_frame.embeddings.nomic import NomicEmbeddingFunction
from chroma_frame.embeddings.ollama import OllamaEmbeddingFunction
from chroma_frame.embeddings.open_clip import OpenCLIPEmbeddingFunction
from chroma_frame.embeddings.openai import OpenAIEmbeddingFunction
from chroma_frame.embeddings.openai_compatible import BasetenEmbeddingFunction, MorphEmbeddingFunction
from chroma_frame.embeddings.perplexity import PerplexityEmbeddingFunction
from chroma_frame.embeddings.protocol import NO_EMBEDDING_FUNCTION, Documents, EmbeddingFunction, Embeddings, Space
from chroma_frame.embeddings.roboflow import RoboflowEmbeddingFunction
from chroma_frame.embeddings.sentence_transformer import SentenceTransformerEmbeddingFunction
from chroma_frame.embeddings.together_ai import TogetherAIEmbeddingFunction
from chroma_frame.embeddings.voyageai import VoyageAIEmbeddingFunction

__all__ = [
    "known_embedding_functions",
    "sparse_known_embedding_functions",
    "register_embedding_function",
    "register_sparse_embedding_function",
    "config_to_embedding_function",
    "config_from_ef",
    "ef_from_config",
    "check_embedding_function_conflict",
    "validate_embedding_function_conflict_on_create",
    "validate_embedding_function_conflict_on_get",
    "embedding_function_for",
    "space_from_ef",
    "warn_if_unsupported_space",
    "UnbuildableEmbeddingFunction",
]

# Chroma's names (its registry's keys, "google_genai" included as the alias it keeps)
known_embedding_functions: Dict[str, Type[EmbeddingFunction]] = {
    "cohere": CohereEmbeddingFunction,
    "openai": OpenAIEmbeddingFunction,
    "huggingface": HuggingFaceEmbeddingFunction,
    "huggingface_server": HuggingFaceEmbeddingServer,
    "sentence_transformer": SentenceTransformerEmbeddingFunction,
    "google_generative_ai": GoogleGenerativeAiEmbeddingFunction,
    "google_gemini": GoogleGeminiEmbeddingFunction,
    "google_genai": GoogleGeminiEmbeddingFunction,
    "ollama": OllamaEmbeddingFunction,
    "jina": JinaEmbeddingFunction,
    "mistral": MistralEmbeddingFunction,
    "morph": MorphEmbeddingFunction,
    "nomic": NomicEmbeddingFunction,
    "voyageai": VoyageAIEmbeddingFunction,
    "onnx_mini_lm_l6_v2": ONNXMiniLM_L6_V2,
    "open_clip": OpenCLIPEmbeddingFunction,
    "roboflow": RoboflowEmbeddingFunction,
    "amazon_bedrock": AmazonBedrockEmbeddingFunction,
    "baseten": BasetenEmbeddingFunction,
    "default": DefaultEmbeddingFunction,
    "cloudflare_workers_ai": CloudflareWorkersAIEmbeddingFunction,
    "together_ai": TogetherAIEmbeddingFunction,
    "chroma-cloud-qwen": ChromaCloudQwenEmbeddingFunction,
    "perplexity": PerplexityEmbeddingFunction,
}
sparse_known_embedding_functions: Dict[str, Type[Any]] = {
    "chroma-cloud-splade": ChromaCloudSpladeEmbeddingFunction,
    "chroma_bm25": ChromaBm25EmbeddingFunction,
}


def _registrar(table: Dict[str, Type[Any]], kind: str, ef_class: Any) -> Any:
    """Register ``cls`` in ``table`` under its ``name()``; usable as a decorator."""

    def _register(cls: Any) -> Any:
        try:
            table[cls.name()] = cls
        except Exception as e:
            raise ValueError(f"Failed to register {kind}: {e}") from e
        return cls

    return _register(ef_class) if ef_class is not None else _register


def register_embedding_function(ef_class: Any = None) -> Any:
    """Register a custom embedding function class under its ``name()``; usable as a decorator."""
    return _registrar(known_embedding_functions, "embedding function", ef_class)


def register_sparse_embedding_function(ef_class: Any = None) -> Any:
    """Register a sparse embedding function class under its ``name()``."""
    return _registrar(sparse_known_embedding_functions, "sparse embedding function", ef_class)


def config_to_embedding_function(config: Dict[str, Any]) -> EmbeddingFunction:
    """Chroma's ``config_to_embedding_function``: ``{"name": ..., "config": ...}`` -> instance."""
    if "name" not in config:
        raise ValueError("Config must contain a 'name' field.")
    name = config["name"]
    if known_embedding_functions.get(name) is None:
        raise ValueError(f"Unsupported embedding function: {name}")
    return known_embedding_functions[name].build_from_config(config.get("config", {}))


def config_from_ef(ef: Optional[Any]) -> Optional[Dict[str, Any]]:
    """The persisted ``configuration_json["embedding_function"]`` value for ``ef``.

    Legacy functions (no ``name`` / ``get_config`` / ``build_from_config``) give
    ``{"type": "legacy"}``, others ``{"name", "type": "known", "config"}`` (and their class is
    registered so the collection can be reopened in this process). ``None`` gives ``None``: what
    Chroma 1.5.9 stores for ``embedding_function=None``.
    """
    if ef is None:
        return None
    if isinstance(ef, UnbuildableEmbeddingFunction):
        return dict(ef.persisted)
    try:
        if ef.is_legacy():
            return {"type": "legacy"}
        config = {"name": ef.name(), "type": "known", "config": ef.get_config()}
        register_embedding_function(type(ef))
        return config
    except Exception as e:
        warnings.warn(f"legacy embedding function config: {e}", DeprecationWarning, stacklevel=2)
        return {"type": "legacy"}


def ef_from_config(config: Optional[Dict[str, Any]]) -> Optional[EmbeddingFunction]:
    """Rebuild a persisted function; ``None`` for no config or ``{"type": "legacy"}``."""
    if config is None:
        return None
    if config.get("type") == "legacy":
        warnings.warn("legacy embedding function config", DeprecationWarning, stacklevel=2)
        return None
    try:
        name = config["name"]
    except KeyError as e:
        raise ValueError(f"Embedding function name not found in config: {config}") from e
    try:
        cls = known_embedding_functions[name]
    except KeyError as e:
        raise ValueError(
            f"Embedding function {name} not found. Add @register_embedding_function decorator to the class definition."
        ) from e
    try:
        return cls.build_from_config(config.get("config", {}))
    except Exception as e:
        raise ValueError(f"Could not build embedding function {name} from config {config.get('config')}: {e}") from e


def validate_embedding_function_conflict_on_create(
    embedding_function: Optional[Any], configuration_ef: Optional[Any]
) -> None:
    """``embedding_function=`` and ``configuration={"embedding_function": ...}`` must agree."""
    if embedding_function is not None and configuration_ef is not None:
        if embedding_function.name() != "default" and embedding_function.name() != configuration_ef.name():
            raise ValueError(
                "Multiple embedding functions provided. Please provide only one. Embedding function conflict: "
                f"{embedding_function.name()} vs {configuration_ef.name()}"
            )


def validate_embedding_function_conflict_on_get(
    embedding_function: Optional[Any], persisted_ef_config: Optional[Dict[str, Any]]
) -> None:
    """A function passed to ``get_collection`` must match the persisted one by name."""
    if persisted_ef_config is not None and embedding_function is not None:
        persisted = persisted_ef_config.get("name")
        if embedding_function.name() != "default" and persisted is not None and persisted != embedding_function.name():
            raise ValueError(
                "An embedding function already exists in the collection configuration, and a new one is provided. "
                "If this is intentional, please embed documents separately. "
                f"Embedding function conflict: new: {embedding_function.name()} vs persisted: {persisted}"
            )


def check_embedding_function_conflict(
    given: Optional[Any], existing: Any, *, on: Literal["get", "create"]
) -> None:
    """Raise Chroma's ``ValueError`` when ``given`` conflicts with ``existing``.

    ``on="create"``: ``existing`` is the ``embedding_function`` of the configuration passed to
    create (an instance or ``None``). ``on="get"``: ``existing`` is the persisted dict.
    Functions named ``"default"`` never conflict.
    """
    if on == "create":
        validate_embedding_function_conflict_on_create(given, existing)
    elif on == "get":
        validate_embedding_function_conflict_on_get(given, existing)
    else:
        raise ValueError(f"on must be 'get' or 'create', got {on!r}")


def embedding_function_for(
    given: Optional[Any], persisted_config: Optional[Dict[str, Any]]
) -> Any:
    """The function a collection embeds with (Chroma's ``CollectionCommon._embed`` order).

    An explicitly passed non-default function wins; then the persisted one; then ``given``
    (the default). Raises Chroma's ``ValueError`` when the collection has none
    (``embedding_function=None`` and nothing persisted).
    """
    if given is not None and not isinstance(given, DefaultEmbeddingFunction):
        return given
    try:
        persisted = ef_from_config(persisted_config)
    except ValueError as e:
        return UnbuildableEmbeddingFunction(persisted_config or {}, e)
    if persisted is not None:
        return persisted
    if given is None:
        raise ValueError(NO_EMBEDDING_FUNCTION)
    return given


def space_from_ef(ef: Optional[Any]) -> Optional[Space]:
    """``ef.default_space()`` for a known function, ``None`` for none or a legacy one."""
    if ef is None:
        return None
    try:
        return None if ef.is_legacy() else ef.default_space()
    except Exception:
        return None


def warn_if_unsupported_space(ef: Optional[Any], space: Optional[str]) -> None:
    """Chroma's ``UserWarning`` for a space outside ``ef.supported_spaces()``."""
    if ef is None or space is None:
        return
    try:
        if ef.is_legacy():
            return
        supported: List[Space] = ef.supported_spaces()
    except Exception:
        return
    if space not in supported:
        warnings.warn(
            f"space {space} is not supported by {ef.name()}. Supported spaces: {supported}",
            UserWarning,
            stacklevel=2,
        )


class UnbuildableEmbeddingFunction(EmbeddingFunction[Documents]):
    """Stands in for a persisted function that cannot be rebuilt; raises its error when used."""

    def __init__(self, persisted: Dict[str, Any], error: ValueError) -> None:
        self.persisted = persisted
        self._error = error

    def __call__(self, input: Documents) -> Embeddings:
        raise ValueError(str(self._error))

    def embed_query(self, input: Documents) -> Embeddings:
        raise ValueError(str(self._error))

    def name(self) -> str:  # type: ignore[override]
        return str(self.persisted.get("name"))

    def get_config(self) -> Dict[str, Any]:
        return dict(self.persisted.get("config") or {})

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "EmbeddingFunction[Documents]":
        raise ValueError("an unbuildable embedding function cannot be built from config")

    def is_legacy(self) -> bool:
        return False

    def supported_spaces(self) -> List[Space]:
        return ["cosine", "l2", "ip"]

    def __repr__(self) -> str:
        return f"UnbuildableEmbeddingFunction({self.name()!r}: {self._error})"
