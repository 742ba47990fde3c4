"""How a collection gets its embedding function: persisted config, the caller's argument, conflicts.

Chroma persists ``{"type": "known", "name": ..., "config": ...}`` (or ``{"type": "legacy"}``, or
nothing for ``embedding_function=None``) and rebuilds the function on ``get_collection``.
"""

from __future__ import annotations

from typing import Any, Literal, Optional


class _Default:
    """The default ``embedding_function`` argument: Chroma's ``DefaultEmbeddingFunction()``."""

    def __repr__(self) -> str:
        return "DefaultEmbeddingFunction()"


DEFAULT: Any = _Default()


def _default_ef() -> Any:
    from chroma_frame.utils.embedding_functions import DefaultEmbeddingFunction

    return DefaultEmbeddingFunction()


def _is_legacy(ef: Any) -> bool:
    is_legacy = getattr(ef, "is_legacy", None)
    if callable(is_legacy):
        return bool(is_legacy())
    name = getattr(ef, "name", None)
    return not callable(name) or name() is NotImplemented


def _name(ef: Any) -> Optional[str]:
    return None if _is_legacy(ef) else ef.name()


def embedding_function_config(ef: Any, configuration: Optional[dict]) -> tuple[Optional[dict], Optional[str]]:
    """What ``create_collection`` persists for ``ef``, and the space it suggests by default."""
    configured = (configuration or {}).get("embedding_function")
    if configured is not None:
        if ef is not DEFAULT and ef is not None and _name(ef) not in (None, "default") and _name(configured) != _name(ef):
            raise ValueError(
                "Multiple embedding functions provided. Please provide only one. "
                f"Embedding function conflict: {_name(ef)} vs {_name(configured)}"
            )
        ef = configured
    if ef is None:
        return None, None
    if ef is DEFAULT:
        return {"type": "known", "name": "default", "config": {}}, "l2"
    if _is_legacy(ef):
        return {"type": "legacy"}, None
    space = ef.default_space() if hasattr(ef, "default_space") else None
    return {"type": "known", "name": ef.name(), "config": ef.get_config()}, space


def _from_config(persisted: Optional[dict]) -> Any:
    if not persisted:
        return None
    if persisted.get("type") != "known" or persisted.get("name") == "default":
        return _default_ef()
    from chroma_frame.embeddings.registry import ef_from_config

    return ef_from_config(persisted)


def bind_embedding_function(persisted: Optional[dict], given: Any, *, on: Literal["create", "get"]) -> Any:
    """The function a collection handle embeds with."""
    if given is DEFAULT:
        return _from_config(persisted) if on == "get" else _default_ef()
    if given is None:
        return _from_config(persisted) if on == "get" else None
    if on == "get" and persisted and persisted.get("type") == "known":
        old, new = persisted.get("name"), _name(given)
        if new is not None and "default" not in (old, new) and old != new:
            raise ValueError(
                "An embedding function already exists in the collection configuration, and a new one is "
                "provided. If this is intentional, please embed documents separately. Embedding function "
                f"conflict: new: {new} vs persisted: {old}"
            )
    return given
