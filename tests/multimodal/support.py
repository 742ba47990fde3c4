"""A small deterministic multimodal embedding function, images made with numpy, and result comparison.

``mean_colour(base)`` makes the same function on Chroma's or chroma-frame's ``EmbeddingFunction``
base class: an image (an ``H x W x 3`` or ``H x W`` array) gives its mean red, green and blue and
its standard deviation (over 255); a colour name ("red", ...) gives that colour with no spread. Texts and
images share the space, as with a CLIP model, so ``query_texts=["red"]`` finds reddish images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (20, 40, 230), "grey": (128, 128, 128)}


def colour_vector(item: Any) -> np.ndarray:
    if isinstance(item, np.ndarray):
        pixels = item.astype(np.float64)
        pixels = pixels.reshape(-1, pixels.shape[-1])[:, :3] if pixels.ndim == 3 else pixels.reshape(-1, 1)
        rgb = np.broadcast_to(pixels.mean(axis=0), (3,))
        return np.array([*rgb, pixels.std()], dtype=np.float32) / 255
    return np.array([*COLOURS[item], 0.0], dtype=np.float32) / 255


def mean_colour(base: type) -> Any:
    """An instance of the colour function, subclassing ``base`` (an ``EmbeddingFunction`` class)."""

    class MeanColour(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            pass

        def __call__(self, input: Any) -> Any:
            return [colour_vector(item) for item in input]

        @staticmethod
        def name() -> str:
            return "mean_colour"

        def get_config(self) -> dict:
            return {}

        @staticmethod
        def build_from_config(config: dict) -> Any:
            return MeanColour()

    return MeanColour()


def make_images(count: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` 8x8 RGB images, each a noisy tint of one of the named colours (uint8)."""
    rng = np.random.default_rng(seed)
    tints = list(COLOURS.values())
    images = []
    for i in range(count):
        noise = rng.normal(0, 25, size=(8, 8, 3)) + rng.normal(0, 20, size=3)
        images.append(np.clip(np.array(tints[i % len(tints)]) + noise, 0, 255).astype(np.uint8))
    return images


def save_png(images: list[np.ndarray], folder: Path, prefix: str = "img") -> list[str]:
    """The images written as PNG files in ``folder``; their paths (the URIs)."""
    from PIL import Image

    paths = []
    for i, image in enumerate(images):
        path = folder / f"{prefix}{i}.png"
        Image.fromarray(image).save(path)
        paths.append(str(path))
    return paths


def plain_data(value: Any) -> Any:
    """``data`` (or one query's) in a comparable form: arrays as (dtype, shape, values)."""
    if isinstance(value, np.ndarray):
        return (str(value.dtype), value.shape, value.tolist())
    if isinstance(value, list):
        return [plain_data(v) for v in value]
    return value


def _none_for_empty(metadatas: Any) -> Any:
    if isinstance(metadatas, list):
        return [_none_for_empty(m) for m in metadatas]
    return None if metadatas == {} else metadatas


def comparable(result: dict) -> dict:
    """A result with its ``data`` made comparable by ``tests.differential.support``, and ``{}``
    metadata read as ``None``: Chroma gives ``{}`` to a record with a URI and no metadata (it keeps
    the URI in the metadata), chroma-frame ``None`` (docs/compatibility.md)."""
    return {**result, "data": plain_data(result["data"]), "metadatas": _none_for_empty(result.get("metadatas"))}
