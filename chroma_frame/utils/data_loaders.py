"""Chroma's ``chromadb.utils.data_loaders``: turn a collection's URIs into the data its
embedding function takes (``data_loader=`` of ``create_collection`` / ``get_collection``).

The collection calls its loader for ``add(uris=...)`` and ``query(query_uris=...)`` (then embeds
what it returns) and for ``include=["data"]`` (then returns it as ``data``).
"""

from __future__ import annotations

import importlib
import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional, Sequence, Tuple

import numpy as np

from chroma_frame.api.types import URI, DataLoader, Image, URIs
from chroma_frame.embeddings.http_provider import PIL_MISSING

__all__ = ["ChromaLangchainPassthroughDataLoader", "DataLoader", "ImageLoader"]


class ImageLoader(DataLoader[List[Optional[Image]]]):
    """Images read with Pillow as numpy arrays, ``None`` for a ``None`` URI, on a thread pool."""

    def __init__(self, max_workers: int = multiprocessing.cpu_count()) -> None:
        try:
            self._PILImage = importlib.import_module("PIL.Image")
            self._max_workers = max_workers
        except ImportError:
            raise ValueError(PIL_MISSING) from None

    def _load_image(self, uri: Optional[URI]) -> Optional[Image]:
        return np.array(self._PILImage.open(uri)) if uri is not None else None

    def __call__(self, uris: Sequence[Optional[URI]]) -> List[Optional[Image]]:
        with ThreadPoolExecutor(max_workers=self._max_workers) as executor:
            return list(executor.map(self._load_image, uris))


class ChromaLangchainPassthroughDataLoader(DataLoader[List[Optional[Image]]]):
    """Returns ``("images", uris)``: tells LangChain's embedding wrapper that these are image URIs."""

    def __call__(self, uris: URIs) -> Tuple[str, URIs]:  # type: ignore[override]
        return ("images", uris)
