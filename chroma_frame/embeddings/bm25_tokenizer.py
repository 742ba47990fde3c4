"""The BM25 tokenizer of Chroma's ``chroma_bm25`` function: clean, lowercase, split, drop stopwords
and over-long tokens, Snowball-stem (English); tokens hash to indices with murmur3 (absolute value).

Same steps, same order and the same stopword list as ``chromadb``'s ``bm25_tokenizer``, so that
indices and values are bit-identical.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Callable, Iterable, List

DEFAULT_ENGLISH_STOPWORDS: List[str] = [
    "a", "about", "above", "after", "again", "against", "ain", "all", "am", "an", "and", "any", "are", "aren",
    "aren't", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by",
    "can", "couldn", "couldn't", "d", "did", "didn", "didn't", "do", "does", "doesn", "doesn't", "doing",
    "don", "don't", "down", "during", "each", "few", "for", "from", "further", "had", "hadn", "hadn't", "has",
    "hasn", "hasn't", "have", "haven", "haven't", "having", "he", "her", "here", "hers", "herself", "him",
    "himself", "his", "how", "i", "if", "in", "into", "is", "isn", "isn't", "it", "it's", "its", "itself",
    "just", "ll", "m", "ma", "me", "mightn", "mightn't", "more", "most", "mustn", "mustn't", "my", "myself",
    "needn", "needn't", "no", "nor", "not", "now", "o", "of", "off", "on", "once", "only", "or", "other",
    "our", "ours", "ourselves", "out", "over", "own", "re", "s", "same", "shan", "shan't", "she", "she's",
    "should", "should've", "shouldn", "shouldn't", "so", "some", "such", "t", "than", "that", "that'll",
    "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this", "those",
    "through", "to", "too", "under", "until", "up", "ve", "very", "was", "wasn", "wasn't", "we", "were",
    "weren", "weren't", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with",
    "won", "won't", "wouldn", "wouldn't", "y", "you", "you'd", "you'll", "you're", "you've", "your", "yours",
    "yourself", "yourselves",
]
DEFAULT_CHROMA_BM25_STOPWORDS: List[str] = list(DEFAULT_ENGLISH_STOPWORDS)
_NON_ALPHANUMERIC = re.compile(r"[^\w\s]+", flags=re.UNICODE)


_local = threading.local()


def _thread_stemmer() -> object:
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        try:
            import snowballstemmer
        except ImportError as e:
            raise ValueError(
                "The snowballstemmer python package is not installed. "
                "Please install it with `pip install snowballstemmer`"
            ) from e
        stemmer = _local.stemmer = snowballstemmer.stemmer("english")
    return stemmer


@lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """The Snowball English stem of ``word`` (a stemmer object is not thread-safe: one per thread)."""
    return _thread_stemmer().stemWord(word)  # type: ignore[attr-defined]


def english_stemmer() -> Callable[[str], str]:
    """The stemming function, checking that ``snowballstemmer`` is installed."""
    _thread_stemmer()
    return stem


class Bm25Tokenizer:
    """Tokens of a text, as Chroma's BM25 functions see them."""

    def __init__(self, stopwords: Iterable[str], token_max_length: int) -> None:
        self._stem = english_stemmer()
        self._stopwords = {word.lower() for word in stopwords}
        self._token_max_length = token_max_length

    def tokenize(self, text: str) -> List[str]:
        tokens: List[str] = []
        for token in _NON_ALPHANUMERIC.sub(" ", text).lower().split():
            if token in self._stopwords or len(token) > self._token_max_length:
                continue
            stemmed = self._stem(token).strip()
            if stemmed:
                tokens.append(stemmed)
        return tokens


@lru_cache(maxsize=1)
def murmur3_abs() -> Callable[[str], int]:
    """``abs(mmh3.hash(token, seed=0))``: the index of a token."""
    try:
        import mmh3
    except ImportError as e:
        raise ValueError(
            "The murmurhash3 python package is not installed. Please install it with `pip install murmurhash3`"
        ) from e
    hash_ = mmh3.hash
    return lambda token: abs(hash_(token, seed=0))


__all__ = ["Bm25Tokenizer", "DEFAULT_CHROMA_BM25_STOPWORDS", "DEFAULT_ENGLISH_STOPWORDS", "english_stemmer",
           "murmur3_abs", "stem"]
