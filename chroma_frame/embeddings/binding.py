"""How a collection handle gets its embedding function: persisted config, the caller's argument, conflicts.

What the Client calls (Chroma 1.5.9's order, observed):

* ``create_collection`` / ``get_or_create_collection``:
  ``ef_config, space = embedding_function_config(embedding_function, configuration)`` — raises the
  create conflict, returns what to store in ``configuration_json["embedding_function"]``
  (``{"type": "known", ...}``, ``{"type": "legacy"}``, or ``None`` for ``embedding_function=None``,
  as Chroma stores it) and the function's default space (``None``: keep the usual default);
* every handle (create, get, get_or_create, list):
  ``bind_embedding_function(persisted, embedding_function, on="create" | "get")`` — raises the get
  conflict, returns the function the handle embeds with, or ``None`` (then embedding raises
  Chroma's "You must provide an embedding function" error).

A persisted function that cannot be rebuilt (unknown name, missing API key) does not fail the
``get``: as in Chroma, the error is raised when the collection first needs to embed.
"""

from __future__ import annotations

import warnings
from typing import Any, Dict, Literal, Optional

from chroma_frame.embeddings import registry
from chroma_frame.embeddings.default import DefaultEmbeddingFunction
from chroma_frame.embeddings.protocol import Space, validate_embedding_function


class _Default:
    """The default ``embedding_function`` argument: Chroma's ``DefaultEmbeddingFunction()``."""

    def __repr__(self) -> str:
        return "DefaultEmbeddingFunction()"


DEFAULT: Any = _Default()


def _resolve(ef: Any) -> Any:
    return DefaultEmbeddingFunction() if ef is DEFAULT else ef


def embedding_function_config(
    ef: Any, configuration: Optional[dict]
) -> tuple[Optional[Dict[str, Any]], Optional[Space]]:
    """What ``create_collection`` persists for ``ef``, and the space it suggests by default."""
    given = _resolve(ef)
    if given is not None:  # Chroma checks the signature when it makes the handle: here before anything is stored
        validate_embedding_function(given)
    configured = (configuration or {}).get("embedding_function")
    registry.validate_embedding_function_conflict_on_create(given, configured)
    target = configured if configured is not None else given
    if target is None:
        # Chroma records an explicit configuration without a function as a legacy one
        return ({"type": "legacy"} if configuration else None), None
    return registry.config_from_ef(target), registry.space_from_ef(target)


def bind_embedding_function(persisted: Optional[Dict[str, Any]], given: Any, *,
                            on: Literal["create", "get"]) -> Any:
    """The function a collection handle embeds with (Chroma's ``CollectionCommon._embed`` order)."""
    given = _resolve(given)
    if on == "get":
        if given is not None:
            validate_embedding_function(given)
        registry.validate_embedding_function_conflict_on_get(given, persisted)
    if given is not None and not isinstance(given, DefaultEmbeddingFunction):
        return given
    if persisted is not None and persisted.get("type") != "legacy":
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                built = registry.ef_from_config(persisted)
        except ValueError as e:
            return registry.UnbuildableEmbeddingFunction(persisted, e)
        if built is not None:
            return built
    return given


def updated_embedding_function_config(persisted: Optional[Dict[str, Any]], update: Any) -> Optional[Dict[str, Any]]:
    """What ``modify(configuration={"embedding_function": update})`` stores (Chroma's
    ``overwrite_embedding_function``): only a function of the same name may replace the stored one,
    after its own ``validate_config_update``; legacy functions are kept, with Chroma's warning."""
    if persisted is None:
        return registry.config_from_ef(update)
    if persisted.get("type") == "legacy" or update.is_legacy():
        warnings.warn("cannot update legacy embedding function config", DeprecationWarning, stacklevel=3)
        return persisted
    if persisted.get("name") != update.name():
        raise ValueError(f"Cannot update embedding function: incompatible types "
                         f"({persisted.get('name')} vs {update.name()})")
    update.validate_config_update(persisted.get("config") or {}, update.get_config())
    return registry.config_from_ef(update)
