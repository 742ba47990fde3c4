"""Chroma's collection model (``chromadb.types.Collection``): what ``Collection.get_model()`` and
``Collection._model`` return, a pydantic model that also answers ``model["key"]`` as Chroma's does.
Imported on first use (pydantic is not loaded by ``import chroma_frame``)."""

from __future__ import annotations

from typing import Any, Dict, Optional
from uuid import UUID

from pydantic import BaseModel


class Collection(BaseModel):
    """A collection's stored description.

    ``version`` is the collection's current version (the number ``versions()``, ``as_of`` and
    ``restore`` use) and ``log_position`` the last log entry it includes. Chroma's single-node
    server always reports 0 for both; its distributed one raises ``version`` when a compaction makes
    writes searchable, which here happens at once, so code that waits for it returns at once."""

    id: UUID
    name: str
    configuration_json: Dict[str, Any]
    serialized_schema: Optional[Dict[str, Any]]
    metadata: Optional[Dict[str, Any]]
    dimension: Optional[int]
    tenant: str
    database: str
    version: int = 0
    log_position: int = 0

    def __getitem__(self, key: str) -> Any:
        """``model["name"]`` as ``model.name`` (None for an unknown key, as in Chroma)."""
        if key == "configuration":
            return self.get_configuration()
        return getattr(self, key) if key in type(self).model_fields else None

    def __setitem__(self, key: str, value: Any) -> None:
        if key == "configuration":
            self.set_configuration(value)
        elif key in type(self).model_fields:
            setattr(self, key, value)

    def get(self, key: str, default: Any = None) -> Any:
        """``dict.get`` over the fields (code written for the dicts earlier releases returned)."""
        value = self[key]
        return default if value is None else value

    def get_configuration(self) -> Dict[str, Any]:
        """The configuration with its embedding function rebuilt from the stored config."""
        from chroma_frame.embeddings.registry import ef_from_config

        config = dict(self.configuration_json)
        config["embedding_function"] = ef_from_config(config.get("embedding_function"))
        return config

    def set_configuration(self, configuration: Dict[str, Any]) -> None:
        from chroma_frame.embeddings.registry import config_from_ef

        stored = dict(configuration)
        stored["embedding_function"] = config_from_ef(configuration.get("embedding_function"))
        self.configuration_json = stored

    @classmethod
    def from_record(cls, record: Dict[str, Any], **fields: Any) -> "Collection":
        """The model of a catalog record (``fields`` override or add, e.g. ``dimension``)."""
        values = {"serialized_schema": None, "metadata": None, "dimension": None, **record, **fields}
        known = {key: value for key, value in values.items() if key in cls.model_fields}
        return cls(**known)


CollectionModel = Collection
