"""Request and response bodies of Chroma's REST API v2, as pydantic models (named as in its spec).

Request models reject what Chroma's server rejects with 422 (wrong JSON types, unknown include
items, negative limits); everything about the values themselves is left to the library.
Response models only document the API: handlers return ready-made JSON.
"""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

U32 = Field(default=None, ge=0, le=2**32 - 1)


class SparseVector(BaseModel):
    """``{"#type": "sparse_vector", "indices": [...], "values": [...], "tokens"?: [...]}``."""

    model_config = ConfigDict(populate_by_name=True)
    type: Literal["sparse_vector"] = Field(alias="#type")
    indices: List[StrictInt]
    values: List[Union[StrictFloat, StrictInt]]
    tokens: Optional[List[StrictStr]] = None


Scalar = Union[StrictBool, StrictInt, StrictFloat, StrictStr]
MetadataValue = Union[
    StrictBool, StrictInt, StrictFloat, StrictStr, SparseVector,
    List[StrictBool], List[StrictInt], List[Union[StrictFloat, StrictInt]], List[StrictStr],
]
Metadata = Dict[str, MetadataValue]
UpdateMetadata = Dict[str, Optional[MetadataValue]]
IncludeItem = Literal["distances", "documents", "embeddings", "metadatas", "uris"]
ReadLevel = Literal["index_and_wal", "index_only", "index_and_bounded_wal"]

# Embeddings travel as float lists or, after pre-flight, one base64 string (little-endian f32) per row.
EmbeddingsPayload = Union[List[List[float]], List[StrictStr]]
UpdateEmbeddingsPayload = Union[List[Optional[List[float]]], List[Optional[StrictStr]]]


class CreateTenantPayload(BaseModel):
    name: str


class UpdateTenantPayload(BaseModel):
    resource_name: str


class CreateDatabasePayload(BaseModel):
    name: str


class CreateCollectionPayload(BaseModel):
    name: str
    metadata: Optional[Metadata] = None
    configuration: Optional[Dict[str, Any]] = None
    schema_: Optional[Dict[str, Any]] = Field(default=None, alias="schema")
    get_or_create: bool = False


class UpdateCollectionPayload(BaseModel):
    new_name: Optional[str] = None
    new_metadata: Optional[UpdateMetadata] = None
    new_configuration: Optional[Dict[str, Any]] = None


class AddCollectionRecordsPayload(BaseModel):
    ids: List[str]
    embeddings: EmbeddingsPayload
    documents: Optional[List[Optional[str]]] = None
    uris: Optional[List[Optional[str]]] = None
    metadatas: Optional[List[Optional[Metadata]]] = None


class UpsertCollectionRecordsPayload(AddCollectionRecordsPayload):
    pass


class UpdateCollectionRecordsPayload(BaseModel):
    ids: List[str]
    embeddings: Optional[UpdateEmbeddingsPayload] = None
    documents: Optional[List[Optional[str]]] = None
    uris: Optional[List[Optional[str]]] = None
    metadatas: Optional[List[Optional[UpdateMetadata]]] = None


class DeleteCollectionRecordsPayload(BaseModel):
    ids: Optional[List[str]] = None
    where: Optional[Dict[str, Any]] = None
    where_document: Optional[Dict[str, Any]] = None
    limit: Optional[int] = U32


class GetRequestPayload(BaseModel):
    ids: Optional[List[str]] = None
    where: Optional[Dict[str, Any]] = None
    where_document: Optional[Dict[str, Any]] = None
    limit: Optional[int] = U32
    offset: Optional[int] = U32
    include: List[IncludeItem] = ["documents", "metadatas"]


class QueryRequestPayload(BaseModel):
    query_embeddings: List[List[float]]
    ids: Optional[List[str]] = None
    where: Optional[Dict[str, Any]] = None
    where_document: Optional[Dict[str, Any]] = None
    n_results: int = Field(default=10, ge=0, le=2**32 - 1)
    include: List[IncludeItem] = ["documents", "metadatas", "distances"]


class ForkCollectionPayload(BaseModel):
    new_name: str


class SearchRequestPayload(BaseModel):
    """``searches``: ``Search.to_dict()`` payloads, parsed by the library (its errors are 400s)."""

    searches: List[Dict[str, Any]]
    read_level: Optional[ReadLevel] = None


# -- responses (documentation only) -------------------------------------------------------


class ErrorResponse(BaseModel):
    error: str
    message: str


class HeartbeatResponse(BaseModel):
    nanosecond_heartbeat: int = Field(alias="nanosecond heartbeat")


class ChecklistResponse(BaseModel):
    max_batch_size: int
    supports_base64_encoding: bool


class HealthcheckResponse(BaseModel):
    is_executor_ready: bool
    is_log_client_ready: bool


class GetUserIdentityResponse(BaseModel):
    user_id: str
    tenant: str
    databases: List[str]


class GetTenantResponse(BaseModel):
    name: str
    resource_name: Optional[str] = None


class Database(BaseModel):
    id: str
    name: str
    tenant: str


class Collection(BaseModel):
    id: str
    name: str
    configuration_json: Dict[str, Any]
    schema_: Optional[Dict[str, Any]] = Field(default=None, alias="schema")
    metadata: Optional[Dict[str, Any]] = None
    dimension: Optional[int] = None
    tenant: str
    database: str
    log_position: int = 0
    version: int = 0


class Empty(BaseModel):
    pass


class DeleteCollectionRecordsResponse(BaseModel):
    deleted: int


class GetResponse(BaseModel):
    ids: List[str]
    embeddings: Optional[List[List[float]]] = None
    documents: Optional[List[Optional[str]]] = None
    uris: Optional[List[Optional[str]]] = None
    metadatas: Optional[List[Optional[Dict[str, Any]]]] = None
    include: List[IncludeItem]


class SearchResponse(BaseModel):
    ids: List[List[str]]
    documents: List[Optional[List[Optional[str]]]]
    embeddings: List[Optional[List[Optional[List[float]]]]]
    metadatas: List[Optional[List[Optional[Dict[str, Any]]]]]
    scores: List[Optional[List[Optional[float]]]]
    select: List[List[str]]


class QueryResponse(BaseModel):
    ids: List[List[str]]
    embeddings: Optional[List[Optional[List[List[float]]]]] = None
    documents: Optional[List[Optional[List[Optional[str]]]]] = None
    uris: Optional[List[Optional[List[Optional[str]]]]] = None
    metadatas: Optional[List[Optional[List[Optional[Dict[str, Any]]]]]] = None
    distances: Optional[List[Optional[List[Optional[float]]]]] = None
    include: List[IncludeItem]
