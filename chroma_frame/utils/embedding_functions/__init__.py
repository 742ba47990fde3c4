"""Chroma's ``chromadb.utils.embedding_functions``: the built-in functions and the registry.

``from chroma_frame.utils.embedding_functions import DefaultEmbeddingFunction`` works as in Chroma.
Importing this module loads no model and imports neither onnxruntime nor tokenizers.
"""

from typing import Set

from chroma_frame.embeddings.chroma_bm25 import ChromaBm25EmbeddingFunction
from chroma_frame.embeddings.default import DefaultEmbeddingFunction, ONNXMiniLM_L6_V2
from chroma_frame.embeddings.ollama import OllamaEmbeddingFunction
from chroma_frame.embeddings.openai import OpenAIEmbeddingFunction
from chroma_frame.embeddings.protocol import EmbeddingFunction
from chroma_frame.embeddings.registry import (
    config_to_embedding_function,
    known_embedding_functions,
    register_embedding_function,
    register_sparse_embedding_function,
    sparse_known_embedding_functions,
)
from chroma_frame.embeddings.sentence_transformer import SentenceTransformerEmbeddingFunction
from chroma_frame.embeddings.sparse import SparseEmbeddingFunction

_all_classes: Set[str] = {
    "ChromaBm25EmbeddingFunction",
    "DefaultEmbeddingFunction",
    "ONNXMiniLM_L6_V2",
    "OpenAIEmbeddingFunction",
    "OllamaEmbeddingFunction",
    "SentenceTransformerEmbeddingFunction",
}


def get_builtins() -> Set[str]:
    """Names of the built-in embedding function classes."""
    return _all_classes


__all__ = [
    "EmbeddingFunction",
    "SparseEmbeddingFunction",
    "ChromaBm25EmbeddingFunction",
    "DefaultEmbeddingFunction",
    "ONNXMiniLM_L6_V2",
    "OpenAIEmbeddingFunction",
    "OllamaEmbeddingFunction",
    "SentenceTransformerEmbeddingFunction",
    "register_embedding_function",
    "register_sparse_embedding_function",
    "config_to_embedding_function",
    "known_embedding_functions",
    "sparse_known_embedding_functions",
    "get_builtins",
]
