"""Embedding functions: Chroma's protocol, the local all-MiniLM-L6-v2 default, HTTP providers.

Importing this package loads no model and imports neither onnxruntime nor tokenizers; the
default model is fetched and loaded on its first call.
"""

from chroma_frame.embeddings.binding import DEFAULT, bind_embedding_function, embedding_function_config
from chroma_frame.embeddings.chroma_bm25 import ChromaBm25EmbeddingFunction
from chroma_frame.embeddings.default import DefaultEmbeddingFunction, ONNXMiniLM_L6_V2
from chroma_frame.embeddings.embed import embed
from chroma_frame.embeddings.ollama import OllamaEmbeddingFunction
from chroma_frame.embeddings.open_clip import OpenCLIPEmbeddingFunction
from chroma_frame.embeddings.openai import OpenAIEmbeddingFunction
from chroma_frame.embeddings.protocol import (
    Documents,
    Embeddable,
    EmbeddingFunction,
    Embeddings,
    Space,
    normalize_embeddings,
    validate_embedding_function,
    validate_embeddings,
)
from chroma_frame.embeddings.registry import (
    check_embedding_function_conflict,
    config_from_ef,
    config_to_embedding_function,
    ef_from_config,
    embedding_function_for,
    known_embedding_functions,
    register_embedding_function,
    register_sparse_embedding_function,
    space_from_ef,
    sparse_known_embedding_functions,
    validate_embedding_function_conflict_on_create,
    validate_embedding_function_conflict_on_get,
    warn_if_unsupported_space,
)
from chroma_frame.embeddings.sentence_transformer import SentenceTransformerEmbeddingFunction
from chroma_frame.embeddings.sparse import SparseEmbeddingFunction, SparseVectors, validate_sparse_vectors
from chroma_frame.embeddings.transport import EmbeddingRequestError


def __getattr__(name: str) -> object:
    if name == "ModelFilesError":  # lazily, so `python -m chroma_frame.embeddings.model_files` runs clean
        from chroma_frame.embeddings.model_files import ModelFilesError

        return ModelFilesError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ChromaBm25EmbeddingFunction",
    "SparseEmbeddingFunction",
    "SparseVectors",
    "validate_sparse_vectors",
    "DEFAULT",
    "DefaultEmbeddingFunction",
    "Documents",
    "Embeddable",
    "EmbeddingFunction",
    "EmbeddingRequestError",
    "Embeddings",
    "ModelFilesError",
    "ONNXMiniLM_L6_V2",
    "OllamaEmbeddingFunction",
    "OpenAIEmbeddingFunction",
    "OpenCLIPEmbeddingFunction",
    "SentenceTransformerEmbeddingFunction",
    "Space",
    "bind_embedding_function",
    "check_embedding_function_conflict",
    "config_from_ef",
    "config_to_embedding_function",
    "ef_from_config",
    "embed",
    "embedding_function_config",
    "embedding_function_for",
    "known_embedding_functions",
    "normalize_embeddings",
    "register_embedding_function",
    "register_sparse_embedding_function",
    "space_from_ef",
    "sparse_known_embedding_functions",
    "validate_embedding_function",
    "validate_embedding_function_conflict_on_create",
    "validate_embedding_function_conflict_on_get",
    "validate_embeddings",
    "warn_if_unsupported_space",
]
