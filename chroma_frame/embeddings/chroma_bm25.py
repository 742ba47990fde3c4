"""``ChromaBm25EmbeddingFunction`` (name ``chroma_bm25``): BM25 term weights as a sparse vector.

Bit-identical to chromadb 1.5.9's function: per document, tokens (see :mod:`.bm25_tokenizer`) are
hashed to indices; the value of an index is ``tf * (k + 1) / (tf + k * (1 - b + b * len / avg_len))``.
No IDF here: the index applies it at search time (``SparseVectorIndexConfig(bm25=True)``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Dict, Iterable, List, Optional

from chroma_frame.base_types import SparseVector
from chroma_frame.embeddings.bm25_tokenizer import DEFAULT_CHROMA_BM25_STOPWORDS, Bm25Tokenizer, murmur3_abs
from chroma_frame.embeddings.protocol import Documents
from chroma_frame.embeddings.sparse import SparseEmbeddingFunction, SparseVectors

NAME = "chroma_bm25"
DEFAULT_K = 1.2
DEFAULT_B = 0.75
DEFAULT_AVG_DOC_LENGTH = 256.0
DEFAULT_TOKEN_MAX_LENGTH = 40
_CONFIG_TYPES = {"k": "number", "b": "number", "avg_doc_length": "number", "token_max_length": "number",
                 "stopwords": "array", "include_tokens": "boolean"}


class ChromaBm25EmbeddingFunction(SparseEmbeddingFunction[Documents]):
    """BM25 sparse vectors computed locally (Snowball stemming, murmur3 token hashes)."""

    def __init__(self, k: float = DEFAULT_K, b: float = DEFAULT_B, avg_doc_length: float = DEFAULT_AVG_DOC_LENGTH,
                 token_max_length: int = DEFAULT_TOKEN_MAX_LENGTH, stopwords: Optional[Iterable[str]] = None,
                 include_tokens: bool = False) -> None:
        self.k = float(k)
        self.b = float(b)
        self.avg_doc_length = float(avg_doc_length)
        self.token_max_length = int(token_max_length)
        self.include_tokens = bool(include_tokens)
        self.stopwords: Optional[List[str]] = None if stopwords is None else [str(w) for w in stopwords]
        self._tokenizer = Bm25Tokenizer(
            self.stopwords if self.stopwords is not None else DEFAULT_CHROMA_BM25_STOPWORDS, self.token_max_length
        )
        self._hash = murmur3_abs()

    def _encode(self, text: str) -> SparseVector:
        tokens = self._tokenizer.tokenize(text)
        if not tokens:
            return SparseVector(indices=[], values=[])
        doc_len = float(len(tokens))
        counts: Counter[int] = Counter()
        labels_of: Dict[int, str] = {}
        for token in tokens:
            h = self._hash(token)
            counts[h] += 1
            labels_of.setdefault(h, token)  # on a hash collision the first token names the index
        indices = sorted(counts)
        norm = self.k * (1 - self.b + (self.b * doc_len) / self.avg_doc_length)
        values = [float(counts[h]) * (self.k + 1) / (float(counts[h]) + norm) for h in indices]
        labels = [labels_of[h] for h in indices] if self.include_tokens else None
        return SparseVector(indices=indices, values=values, labels=labels)

    def __call__(self, input: Documents) -> SparseVectors:
        return [self._encode(document) for document in input] if input else []

    def embed_query(self, input: Documents) -> SparseVectors:
        return self.__call__(input)

    @staticmethod
    def name() -> str:
        return NAME

    @staticmethod
    def build_from_config(config: Dict[str, Any]) -> "ChromaBm25EmbeddingFunction":
        return ChromaBm25EmbeddingFunction(
            k=config.get("k", DEFAULT_K),
            b=config.get("b", DEFAULT_B),
            avg_doc_length=config.get("avg_doc_length", DEFAULT_AVG_DOC_LENGTH),
            token_max_length=config.get("token_max_length", DEFAULT_TOKEN_MAX_LENGTH),
            stopwords=config.get("stopwords"),
            include_tokens=config.get("include_tokens", False),
        )

    def get_config(self) -> Dict[str, Any]:
        config: Dict[str, Any] = {"k": self.k, "b": self.b, "avg_doc_length": self.avg_doc_length,
                                  "token_max_length": self.token_max_length, "include_tokens": self.include_tokens}
        if self.stopwords is not None:
            config["stopwords"] = list(self.stopwords)
        return config

    def validate_config_update(self, old_config: Dict[str, Any], new_config: Dict[str, Any]) -> None:
        for key in new_config:
            if key not in _CONFIG_TYPES:
                raise ValueError(f"Updating '{key}' is not supported for {NAME}")

    @staticmethod
    def validate_config(config: Dict[str, Any]) -> None:
        """The checks of Chroma's ``chroma_bm25.json`` schema (ValueError instead of jsonschema's error)."""
        for key, value in config.items():
            kind = _CONFIG_TYPES.get(key)
            if kind is None:
                raise ValueError(f"Config validation failed for schema '{NAME}': Additional properties are not "
                                 f"allowed ('{key}' was unexpected)")
            ok = {
                "number": isinstance(value, (int, float)) and not isinstance(value, bool),
                "boolean": isinstance(value, bool),
                "array": isinstance(value, list) and all(isinstance(w, str) for w in value),
            }[kind]
            if not ok:
                raise ValueError(f"Config validation failed for schema '{NAME}': {value!r} is not of type "
                                 f"'{kind}' at path '{key}'")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChromaBm25EmbeddingFunction):
            return NotImplemented
        return self.get_config() == other.get_config()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ChromaBm25EmbeddingFunction({self.get_config()})"


__all__ = ["ChromaBm25EmbeddingFunction", "NAME"]
