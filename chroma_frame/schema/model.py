"""Chroma's collection ``Schema``: which index each value type (and each key) gets.

``Schema()`` holds Chroma's defaults; ``create_index`` / ``delete_index`` change them with
chromadb 1.5.9's rules and messages (vector config only globally, FTS only on ``#document``,
sparse only on one specific key, ``#`` keys reserved). ``serialize_to_json`` /
``deserialize_from_json`` give and read the JSON chromadb's clients send and receive.
"""

from __future__ import annotations

import warnings
from copy import deepcopy
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple, Union, cast

from chroma_frame.schema.configs import (
    DOCUMENT_KEY,
    EMBEDDING_KEY,
    BoolInvertedIndexConfig,
    Cmek,
    FloatInvertedIndexConfig,
    FtsIndexConfig,
    IndexConfig,
    IntInvertedIndexConfig,
    SparseVectorIndexConfig,
    StringInvertedIndexConfig,
    VectorIndexConfig,
)

STRING_VALUE_NAME = "string"
INT_VALUE_NAME = "int"
BOOL_VALUE_NAME = "bool"
FLOAT_VALUE_NAME = "float"
FLOAT_LIST_VALUE_NAME = "float_list"
SPARSE_VECTOR_VALUE_NAME = "sparse_vector"
FTS_INDEX_NAME = "fts_index"
VECTOR_INDEX_NAME = "vector_index"
SPARSE_VECTOR_INDEX_NAME = "sparse_vector_index"
STRING_INVERTED_INDEX_NAME = "string_inverted_index"
INT_INVERTED_INDEX_NAME = "int_inverted_index"
FLOAT_INVERTED_INDEX_NAME = "float_inverted_index"
BOOL_INVERTED_INDEX_NAME = "bool_inverted_index"
HNSW_INDEX_NAME = "hnsw_index"
SPANN_INDEX_NAME = "spann_index"


@dataclass
class FtsIndexType:
    enabled: bool
    config: FtsIndexConfig


@dataclass
class VectorIndexType:
    enabled: bool
    config: VectorIndexConfig


@dataclass
class SparseVectorIndexType:
    enabled: bool
    config: SparseVectorIndexConfig


@dataclass
class StringInvertedIndexType:
    enabled: bool
    config: StringInvertedIndexConfig


@dataclass
class IntInvertedIndexType:
    enabled: bool
    config: IntInvertedIndexConfig


@dataclass
class FloatInvertedIndexType:
    enabled: bool
    config: FloatInvertedIndexConfig


@dataclass
class BoolInvertedIndexType:
    enabled: bool
    config: BoolInvertedIndexConfig


@dataclass
class StringValueType:
    fts_index: Optional[FtsIndexType] = None
    string_inverted_index: Optional[StringInvertedIndexType] = None


@dataclass
class FloatListValueType:
    vector_index: Optional[VectorIndexType] = None


@dataclass
class SparseVectorValueType:
    sparse_vector_index: Optional[SparseVectorIndexType] = None


@dataclass
class IntValueType:
    int_inverted_index: Optional[IntInvertedIndexType] = None


@dataclass
class FloatValueType:
    float_inverted_index: Optional[FloatInvertedIndexType] = None


@dataclass
class BoolValueType:
    bool_inverted_index: Optional[BoolInvertedIndexType] = None


@dataclass
class ValueTypes:
    string: Optional[StringValueType] = None
    float_list: Optional[FloatListValueType] = None
    sparse_vector: Optional[SparseVectorValueType] = None
    int_value: Optional[IntValueType] = None
    float_value: Optional[FloatValueType] = None
    boolean: Optional[BoolValueType] = None


# (ValueTypes attribute, JSON name, value type class, [(index attribute, index type class, config class)]),
# in chromadb's serialisation order. The JSON name of an index is its attribute name.
_LAYOUT: List[Tuple[str, str, type, List[Tuple[str, type, type]]]] = [
    ("string", STRING_VALUE_NAME, StringValueType,
     [(FTS_INDEX_NAME, FtsIndexType, FtsIndexConfig),
      (STRING_INVERTED_INDEX_NAME, StringInvertedIndexType, StringInvertedIndexConfig)]),
    ("float_list", FLOAT_LIST_VALUE_NAME, FloatListValueType,
     [(VECTOR_INDEX_NAME, VectorIndexType, VectorIndexConfig)]),
    ("sparse_vector", SPARSE_VECTOR_VALUE_NAME, SparseVectorValueType,
     [(SPARSE_VECTOR_INDEX_NAME, SparseVectorIndexType, SparseVectorIndexConfig)]),
    ("int_value", INT_VALUE_NAME, IntValueType,
     [(INT_INVERTED_INDEX_NAME, IntInvertedIndexType, IntInvertedIndexConfig)]),
    ("float_value", FLOAT_VALUE_NAME, FloatValueType,
     [(FLOAT_INVERTED_INDEX_NAME, FloatInvertedIndexType, FloatInvertedIndexConfig)]),
    ("boolean", BOOL_VALUE_NAME, BoolValueType,
     [(BOOL_INVERTED_INDEX_NAME, BoolInvertedIndexType, BoolInvertedIndexConfig)]),
]
# config class name -> (ValueTypes attribute, value type class, index attribute, index type class)
_SLOT = {cfg.__name__: (attr, vt, idx, it) for attr, _, vt, indexes in _LAYOUT for idx, it, cfg in indexes}


def _key_name(key: Any) -> Any:
    """A search ``Key`` (anything named ``Key`` with a ``name``) stands for its name."""
    if key is not None and type(key).__name__ == "Key" and isinstance(getattr(key, "name", None), str):
        return key.name
    return key


@dataclass
class Schema:
    """Collection schema for indexing and encryption configuration.

    Attributes:
        defaults: Default index configurations for each value type.
        keys: Key-specific index overrides.
        cmek: Optional customer-managed encryption key for collection data.
    """

    defaults: ValueTypes
    keys: Dict[str, ValueTypes]
    cmek: Optional[Cmek] = None

    def __init__(self) -> None:
        self.defaults = ValueTypes()
        self.keys = {}
        self.cmek = None
        self._initialize_defaults()
        self._initialize_keys()

    # -- building ------------------------------------------------------------------------
    def create_index(self, config: Optional[IndexConfig] = None, key: Optional[Union[str, Any]] = None) -> "Schema":
        """Enable an index: ``config`` globally, or on ``key`` (sparse: on one key only)."""
        key = _key_name(key)
        if config is None and key is None:
            raise ValueError("Cannot enable all index types globally. Must specify either config or key.")
        if key is not None and key == EMBEDDING_KEY:
            raise ValueError(
                f"Cannot create index on special key '{key}'. This key is managed automatically by the system. "
                "Invoke create_index(VectorIndexConfig(...)) without specifying a key to configure the vector "
                "index globally."
            )
        if key == DOCUMENT_KEY and not isinstance(config, FtsIndexConfig):
            raise ValueError(
                f"Cannot create index on special key '{key}' with this config. "
                "Only FtsIndexConfig is allowed for #document."
            )
        if key is not None and key.startswith("#") and key != DOCUMENT_KEY:
            raise ValueError("key cannot begin with '#'. Keys starting with '#' are reserved for system use.")
        if isinstance(config, VectorIndexConfig):
            if key is None:
                self._set_vector_index_config(config)
                return self
            raise ValueError(
                "Vector index cannot be enabled on specific keys. Use create_index(config=VectorIndexConfig(...)) "
                "without specifying a key to configure the vector index globally."
            )
        if isinstance(config, FtsIndexConfig) and key != DOCUMENT_KEY:
            raise ValueError(
                "FTS index can only be enabled on #document key. "
                "Use create_index(config=FtsIndexConfig(), key='#document')"
            )
        if isinstance(config, SparseVectorIndexConfig) and key is None:
            raise ValueError(
                "Sparse vector index must be created on a specific key. "
                "Please specify a key using: create_index(config=SparseVectorIndexConfig(...), key='your_key')"
            )
        if config is None and key is not None:
            raise ValueError(
                f"Cannot enable all index types for key '{key}'. Please specify a specific index configuration."
            )
        if key is None:
            self._set_index_in_defaults(cast(IndexConfig, config), enabled=True)
        else:
            self._set_index_for_key(key, cast(IndexConfig, config), enabled=True)
        return self

    def delete_index(self, config: Optional[IndexConfig] = None, key: Optional[Union[str, Any]] = None) -> "Schema":
        """Disable an index (``enabled=False``) globally or on ``key``."""
        key = _key_name(key)
        if config is None and key is None:
            raise ValueError("Cannot disable all indexes. Must specify either config or key.")
        if key is not None and key == EMBEDDING_KEY:
            raise ValueError("Cannot modify #embedding. Currently not supported")
        if key == DOCUMENT_KEY and not isinstance(config, FtsIndexConfig):
            raise ValueError(
                f"Cannot delete index on special key '{key}' with this config. "
                "Only FtsIndexConfig is allowed for #document."
            )
        if key is not None and key.startswith("#") and key != DOCUMENT_KEY:
            raise ValueError("key cannot begin with '#'. Keys starting with '#' are reserved for system use.")
        if isinstance(config, VectorIndexConfig):
            raise ValueError("Deleting vector index is not currently supported.")
        if isinstance(config, SparseVectorIndexConfig):
            raise ValueError("Deleting sparse vector index is not currently supported.")
        if isinstance(config, FtsIndexConfig) and key != DOCUMENT_KEY:
            raise ValueError("Deleting FTS index is only supported on #document key.")
        if key is not None and config is None:
            raise ValueError(
                f"Cannot disable all index types for key '{key}'. Please specify a specific index configuration."
            )
        if key is not None:
            self._set_index_for_key(key, cast(IndexConfig, config), enabled=False)
        else:
            self._set_index_in_defaults(cast(IndexConfig, config), enabled=False)
        return self

    def set_cmek(self, cmek: Optional[Cmek]) -> "Schema":
        """Set (or clear) the customer-managed encryption key."""
        self.cmek = cmek
        return self

    def _set_vector_index_config(self, config: VectorIndexConfig) -> None:
        """Vector config goes to the defaults and to ``#embedding`` (keeping its enabled state and source key)."""
        defaults = cast(FloatListValueType, self.defaults.float_list)
        defaults.vector_index = VectorIndexType(enabled=cast(VectorIndexType, defaults.vector_index).enabled,
                                                config=config)
        embedding = cast(FloatListValueType, self.keys[EMBEDDING_KEY].float_list)
        current = cast(VectorIndexType, embedding.vector_index)
        embedding.vector_index = VectorIndexType(
            enabled=current.enabled,
            config=VectorIndexConfig(space=config.space, embedding_function=config.embedding_function,
                                     hnsw=config.hnsw, spann=config.spann, source_key=current.config.source_key),
        )

    def _set_index_in_defaults(self, config: IndexConfig, enabled: bool) -> None:
        self._put(self.defaults, config, enabled)

    def _validate_single_sparse_vector_index(self, key: str) -> None:
        for existing_key, value_types in self.keys.items():
            if existing_key == key or value_types.sparse_vector is None:
                continue
            index = value_types.sparse_vector.sparse_vector_index
            if index is not None and index.enabled:
                raise ValueError(
                    f"Cannot enable sparse vector index on key '{key}'. "
                    f"A sparse vector index is already enabled on key '{existing_key}'. "
                    f"Only one sparse vector index is allowed per collection."
                )

    def _validate_sparse_vector_config(self, config: SparseVectorIndexConfig) -> None:
        if config.source_key is not None and config.embedding_function is None:
            raise ValueError(
                f"If source_key is provided then embedding_function must also be provided "
                f"since there is no default embedding function. Config: {config}"
            )

    def _set_index_for_key(self, key: str, config: IndexConfig, enabled: bool) -> None:
        if isinstance(config, SparseVectorIndexConfig) and enabled:
            self._validate_single_sparse_vector_index(key)
            self._validate_sparse_vector_config(config)
        if key not in self.keys:
            self.keys[key] = ValueTypes()
        self._put(self.keys[key], config, enabled)

    @staticmethod
    def _put(value_types: ValueTypes, config: IndexConfig, enabled: bool) -> None:
        slot = _SLOT.get(type(config).__name__)
        if slot is None:
            return
        attr, value_type_cls, index_attr, index_type_cls = slot
        if getattr(value_types, attr) is None:
            setattr(value_types, attr, value_type_cls())
        setattr(getattr(value_types, attr), index_attr, index_type_cls(enabled=enabled, config=config))

    def _initialize_defaults(self) -> None:
        self.defaults.string = StringValueType(
            fts_index=FtsIndexType(enabled=False, config=FtsIndexConfig()),
            string_inverted_index=StringInvertedIndexType(enabled=True, config=StringInvertedIndexConfig()),
        )
        self.defaults.float_list = FloatListValueType(
            vector_index=VectorIndexType(enabled=False, config=VectorIndexConfig())
        )
        self.defaults.sparse_vector = SparseVectorValueType(
            sparse_vector_index=SparseVectorIndexType(enabled=False, config=SparseVectorIndexConfig())
        )
        self.defaults.int_value = IntValueType(
            int_inverted_index=IntInvertedIndexType(enabled=True, config=IntInvertedIndexConfig())
        )
        self.defaults.float_value = FloatValueType(
            float_inverted_index=FloatInvertedIndexType(enabled=True, config=FloatInvertedIndexConfig())
        )
        self.defaults.boolean = BoolValueType(
            bool_inverted_index=BoolInvertedIndexType(enabled=True, config=BoolInvertedIndexConfig())
        )

    def _initialize_keys(self) -> None:
        self.keys[DOCUMENT_KEY] = ValueTypes(string=StringValueType(
            fts_index=FtsIndexType(enabled=True, config=FtsIndexConfig()),
            string_inverted_index=StringInvertedIndexType(enabled=False, config=StringInvertedIndexConfig()),
        ))
        self.keys[EMBEDDING_KEY] = ValueTypes(float_list=FloatListValueType(
            vector_index=VectorIndexType(enabled=True, config=VectorIndexConfig(source_key=DOCUMENT_KEY))
        ))

    # -- JSON ----------------------------------------------------------------------------
    def serialize_to_json(self) -> Dict[str, Any]:
        """The JSON-ready dict chromadb sends as ``schema`` (embedding functions as their configs)."""
        result: Dict[str, Any] = {
            "defaults": self._serialize_value_types(self.defaults),
            "keys": {key: self._serialize_value_types(vt) for key, vt in self.keys.items()},
        }
        if self.cmek is not None:
            result["cmek"] = self.cmek.to_dict()
        return result

    @classmethod
    def deserialize_from_json(cls, json_data: Dict[str, Any]) -> "Schema":
        """A Schema from its JSON (embedding functions rebuilt from the registries)."""
        instance = cls.__new__(cls)
        instance.defaults = cls._deserialize_value_types(json_data.get("defaults", {}))
        instance.keys = {key: cls._deserialize_value_types(vt) for key, vt in json_data.get("keys", {}).items()}
        instance.cmek = None
        if json_data.get("cmek") is not None:
            instance.cmek = Cmek.from_dict(json_data["cmek"])
        return instance

    def _serialize_value_types(self, value_types: ValueTypes) -> Dict[str, Any]:
        result: Dict[str, Any] = {}
        for attr, json_name, _, indexes in _LAYOUT:
            value_type = getattr(value_types, attr)
            if value_type is None:
                continue
            result[json_name] = {}
            for index_attr, _, _ in indexes:
                index = getattr(value_type, index_attr)
                if index is not None:
                    result[json_name][index_attr] = {"enabled": index.enabled,
                                                     "config": self._serialize_config(index.config)}
        return result

    def _serialize_config(self, config: IndexConfig) -> Dict[str, Any]:
        config_dict = config.model_dump(exclude_none=True)
        if isinstance(config, VectorIndexConfig):
            config_dict["embedding_function"] = _dense_ef_json(config, config_dict)
        elif isinstance(config, SparseVectorIndexConfig):
            ef = config.embedding_function
            if ef is None:
                config_dict["embedding_function"] = {"type": "unknown"}
            else:
                if hasattr(ef, "validate_config"):
                    ef.validate_config(ef.get_config())
                config_dict["embedding_function"] = {"name": ef.name(), "type": "known", "config": ef.get_config()}
        return config_dict

    @classmethod
    def _deserialize_value_types(cls, value_types_json: Dict[str, Any]) -> ValueTypes:
        result = ValueTypes()
        for attr, json_name, value_type_cls, indexes in _LAYOUT:
            if json_name not in value_types_json:
                continue
            data = value_types_json[json_name]
            value_type = value_type_cls()
            for index_attr, index_type_cls, config_cls in indexes:
                if index_attr in data:
                    index_data = data[index_attr]
                    config_data = deepcopy(index_data.get("config", {}))
                    if config_cls is VectorIndexConfig:
                        _dense_ef_from_json(config_data)
                    elif config_cls is SparseVectorIndexConfig:
                        _sparse_ef_from_json(config_data)
                    setattr(value_type, index_attr,
                            index_type_cls(enabled=index_data.get("enabled", True), config=config_cls(**config_data)))
            setattr(result, attr, value_type)
        return result


def _dense_ef_json(config: VectorIndexConfig, config_dict: Dict[str, Any]) -> Dict[str, Any]:
    """chromadb's serialisation of a vector index's embedding function (and space from it)."""
    ef = config.embedding_function
    if ef is None:
        return {"type": "legacy"}
    try:
        if ef.is_legacy():
            return {"type": "legacy"}
        if hasattr(ef, "validate_config"):
            ef.validate_config(ef.get_config())
        out = {"name": ef.name(), "type": "known", "config": ef.get_config()}
        if config.space is None:
            config_dict["space"] = ef.default_space()
        elif config.space not in ef.supported_spaces():
            warnings.warn(
                f"space {config.space} is not supported by {ef.name()}. Supported spaces: {ef.supported_spaces()}",
                UserWarning,
                stacklevel=3,
            )
        return out
    except Exception:
        return {"type": "legacy"}


def _dense_ef_from_json(config_data: Dict[str, Any]) -> None:
    if "embedding_function" not in config_data:
        return
    ef_config = config_data["embedding_function"]
    if ef_config.get("type") == "legacy":
        config_data["embedding_function"] = None
        return
    from chroma_frame.embeddings.registry import known_embedding_functions

    try:
        ef = known_embedding_functions[ef_config["name"]].build_from_config(ef_config["config"])
        config_data["embedding_function"] = ef
        if config_data.get("space") is None:
            config_data["space"] = ef.default_space()
    except Exception as e:
        warnings.warn(
            f"Could not reconstruct embedding function {ef_config.get('name', 'unknown')}: {e}. Setting to None.",
            UserWarning,
            stacklevel=4,
        )
        config_data["embedding_function"] = None


def _sparse_ef_from_json(config_data: Dict[str, Any]) -> None:
    if "embedding_function" not in config_data:
        return
    ef_config = config_data["embedding_function"]
    if ef_config.get("type") in ("unknown", "legacy"):
        config_data["embedding_function"] = None
        return
    from chroma_frame.embeddings.registry import sparse_known_embedding_functions

    try:
        cls = sparse_known_embedding_functions[ef_config["name"]]
        config_data["embedding_function"] = cls.build_from_config(ef_config["config"])
    except Exception as e:
        warnings.warn(
            f"Could not reconstruct sparse embedding function {ef_config.get('name', 'unknown')}: {e}. "
            "Setting to None.",
            UserWarning,
            stacklevel=4,
        )
        config_data["embedding_function"] = None


__all__ = [
    "Schema", "ValueTypes", "FtsIndexType", "VectorIndexType", "SparseVectorIndexType", "StringInvertedIndexType",
    "IntInvertedIndexType", "FloatInvertedIndexType", "BoolInvertedIndexType", "StringValueType",
    "FloatListValueType", "SparseVectorValueType", "IntValueType", "FloatValueType", "BoolValueType",
]
