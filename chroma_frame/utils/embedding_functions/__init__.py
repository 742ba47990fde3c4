"""Chroma's ``chromadb.utils.embedding_functions``: the built-in functions and the registry.

``from chroma_frame.utils.embedding_functions import CohereEmbeddingFunction`` works as in Chroma.
Importing this module loads no model and imports neither onnxruntime nor tokenizers; the HTTP
providers need no provider SDK (Amazon Bedrock needs boto3, images need Pillow).
"""

from typing import Set

from chroma_frame.embeddings.bedrock import AmazonBedrockEmbeddingFunction
from chroma_frame.embeddings.chroma_bm25 import ChromaBm25EmbeddingFunction
from chroma_frame.embeddings.chroma_cloud_qwen import ChromaCloudQwenEmbeddingFunction
from chroma_frame.embeddings.chroma_cloud_splade import ChromaCloudSpladeEmbeddingFunction
from chroma_frame.embeddings.cloudflare import CloudflareWorkersAIEmbeddingFunction
from chroma_frame.embeddings.cohere import CohereEmbeddingFunction
from chroma_frame.embeddings.default import DefaultEmbeddingFunction, ONNXMiniLM_L6_V2
from chroma_frame.embeddings.google import (
    GoogleGeminiEmbeddingFunction,
    GoogleGenaiEmbeddingFunction,
    GoogleGenerativeAiEmbeddingFunction,
)
from chroma_frame.embeddings.huggingface import HuggingFaceEmbeddingFunction, HuggingFaceEmbeddingServer
from chroma_frame.embeddings.jina import JinaEmbeddingFunction
from chroma_frame.embeddings.mistral import MistralEmbeddingFunction
from chroma_frame.embeddings.nomic import NomicEmbeddingFunction
from chroma_frame.embeddings.ollama import OllamaEmbeddingFunction
from chroma_frame.embeddings.open_clip import OpenCLIPEmbeddingFunction
from chroma_frame.embeddings.openai import OpenAIEmbeddingFunction
from chroma_frame.embeddings.openai_compatible import BasetenEmbeddingFunction, MorphEmbeddingFunction
from chroma_frame.embeddings.perplexity import PerplexityEmbeddingFunction
from chroma_frame.embeddings.protocol import EmbeddingFunction
from chroma_frame.embeddings.registry import (
    config_to_embedding_function,
    known_embedding_functions,
    register_embedding_function,
    register_sparse_embedding_function,
    sparse_known_embedding_functions,
)
from chroma_frame.embeddings.roboflow import RoboflowEmbeddingFunction
from chroma_frame.embeddings.sentence_transformer import SentenceTransformerEmbeddingFunction
from chroma_frame.embeddings.sparse import SparseEmbeddingFunction
from chroma_frame.embeddings.together_ai import TogetherAIEmbeddingFunction
from chroma_frame.embeddings.voyageai import VoyageAIEmbeddingFunction


def get_builtins() -> Set[str]:
    """Names of the built-in embedding function classes."""
    return _all_classes


__all__ = [
    "EmbeddingFunction",
    "SparseEmbeddingFunction",
    "AmazonBedrockEmbeddingFunction",
    "BasetenEmbeddingFunction",
    "ChromaBm25EmbeddingFunction",
    "ChromaCloudQwenEmbeddingFunction",
    "ChromaCloudSpladeEmbeddingFunction",
    "CloudflareWorkersAIEmbeddingFunction",
    "CohereEmbeddingFunction",
    "DefaultEmbeddingFunction",
    "GoogleGeminiEmbeddingFunction",
    "GoogleGenaiEmbeddingFunction",
    "GoogleGenerativeAiEmbeddingFunction",
    "HuggingFaceEmbeddingFunction",
    "HuggingFaceEmbeddingServer",
    "JinaEmbeddingFunction",
    "MistralEmbeddingFunction",
    "MorphEmbeddingFunction",
    "NomicEmbeddingFunction",
    "ONNXMiniLM_L6_V2",
    "OllamaEmbeddingFunction",
    "OpenAIEmbeddingFunction",
    "OpenCLIPEmbeddingFunction",
    "PerplexityEmbeddingFunction",
    "RoboflowEmbeddingFunction",
    "SentenceTransformerEmbeddingFunction",
    "TogetherAIEmbeddingFunction",
    "VoyageAIEmbeddingFunction",
    "register_embedding_function",
    "register_sparse_embedding_function",
    "config_to_embedding_function",
    "known_embedding_functions",
    "sparse_known_embedding_functions",
    "get_builtins",
]
# the built-in classes: the capitalised names above, less the two protocols
_all_classes: Set[str] = {name for name in __all__ if name[0].isupper()} - {"EmbeddingFunction",
                                                                            "SparseEmbeddingFunction"}
