"""chroma_frame.validation: unit tests, and a differential test against chromadb 1.5.9.

The differential test runs each input through Chroma's local client (a fresh collection,
``embedding_function=None``, explicit embeddings) and through our functions wrapped the
way our Collection calls them, and asserts the same exception class name and message.
"""

from __future__ import annotations

import itertools
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chroma_frame.errors import DuplicateIDError, InternalError, InvalidArgumentError
from chroma_frame.validation import (
    MAX_BATCH_SIZE,
    RecordSet,
    attach_embeddings,
    check_collection_metadata,
    check_collection_name,
    check_configuration_update,
    check_database_name,
    check_delete_args,
    check_include,
    check_limit_offset,
    check_n_results,
    check_query_embeddable,
    check_query_engine,
    check_records_engine,
    check_tenant_name,
    normalize_configuration,
    normalize_ids,
    normalize_query,
    normalize_query_embeddings,
    normalize_records,
    prepare_create_collection,
    prepare_modify_collection,
    validation_context,
)

DEFAULT_HNSW = {"space": "l2", "ef_construction": 100, "ef_search": 100, "max_neighbors": 16,
                "resize_factor": 1.2, "sync_threshold": 1000}
GET_INCLUDE = ["metadatas", "documents"]
QUERY_INCLUDE = ["metadatas", "documents", "distances"]
SPARSE = {"#type": "sparse_vector", "indices": [1, 3], "values": [0.5, 1.0]}


# =========================================================================== how our Collection calls us


def ours_write(op: str, dimension: int | None, **kw: Any) -> RecordSet:
    with validation_context(op):
        records = normalize_records(op, **kw)
    check_records_engine(records, dimension)
    return records


def ours_get(dimension: int | None, ids=None, include=GET_INCLUDE, limit=None, offset=None, where=None):
    with validation_context("get"):
        normalize_ids("get", ids)
        check_include(include, "get")
    return check_limit_offset(limit, offset, "get")


def ours_delete(dimension: int | None, ids=None, where=None, where_document=None, limit=None):
    with validation_context("delete"):
        check_delete_args(ids, where, where_document, limit)
        normalize_ids("delete", ids)
    check_limit_offset(limit, None, "delete")


def ours_query(dimension: int | None, query_embeddings=None, query_texts=None, query_images=None,
               query_uris=None, ids=None, n_results=10, include=QUERY_INCLUDE):
    with validation_context("query"):
        inputs = normalize_query(query_embeddings, query_texts, query_images, query_uris)
        filter_ids = normalize_ids("query", ids)
        check_include(include, "query")
        n = check_n_results(n_results)
        check_query_embeddable(inputs)
    return check_query_engine(filter_ids, inputs.embeddings, n, dimension)


def ours_create(ef_space: str | None, name, metadata=None, configuration=None):
    return prepare_create_collection(name, metadata, configuration, ef_space)


def ours_modify(name=None, metadata=None, configuration=None):
    current = normalize_configuration(None, {"x": 1}, None)
    return prepare_modify_collection(current, name, metadata, configuration)


def outcome(fn, *args, **kwargs) -> tuple[str, Any]:
    try:
        return "ok", fn(*args, **kwargs)
    except BaseException as e:  # noqa: BLE001 - PanicException is a BaseException
        return type(e).__name__, _canonical(str(e))


def _canonical(message: str) -> str:
    """Chroma lists some fields in hash order (its Rust validator; "Exactly one of" a set):
    compare those sorted."""
    exactly = re.match(r"Exactly one of (.*) must be provided(.*)$", message)
    if exactly:
        return f"Exactly one of {', '.join(sorted(exactly[1].split(', ')))} must be provided{exactly[2]}"
    if message.startswith("Validation error: ") and "\n" in message:
        lines = message[len("Validation error: "):].split("\n")
        return "Validation error: " + "\n".join(sorted(lines))
    return message


# =========================================================================== the table


@dataclass
class Case:
    verb: str
    kw: dict = field(default_factory=dict)
    dim: int | None = 3   # the collection's dimension (seeded with one record), None = fresh
    check: bool = False   # on success, compare what was stored / the configuration
    ef: bool = False      # create with an embedding function whose default space is cosine
    differs: str | None = None  # a deliberate difference: Chroma raises this class, we accept


E3 = [[1.0, 2.0, 3.0]]
NAN_ROW = [[1.0, 2.0, float("nan")]]
BIG = np.ones((6000, 3), dtype=np.float32)

CASES: dict[str, Case] = {
    # ---- add / upsert / update: §2.2
    "dup ids": Case("add", dict(ids=["x", "x"], embeddings=E3 * 2)),
    "dup ids >=10": Case("add", dict(ids=[f"d{i}" for i in range(12)] * 2, embeddings=E3 * 24)),
    "dup ids upsert": Case("upsert", dict(ids=["x", "x"], embeddings=E3 * 2)),
    "ids empty": Case("add", dict(ids=[])),
    "ids and embeddings empty": Case("add", dict(ids=[], embeddings=[])),
    "ids None": Case("add", dict(ids=None, embeddings=E3)),
    "id not str": Case("add", dict(ids=[1], embeddings=E3)),
    "id tuple": Case("add", dict(ids=("a",), embeddings=E3)),
    "id empty string": Case("add", dict(ids=[""], embeddings=E3)),
    "id empty string update": Case("update", dict(ids=[""], embeddings=E3)),
    "unequal lengths": Case("add", dict(ids=["a", "b"], embeddings=E3)),
    "unequal lengths 3 fields": Case("add", dict(ids=["a", "b"], metadatas=[{"a": 1}], embeddings=E3 * 2)),
    "add nothing to embed": Case("add", dict(ids=["a"])),
    "add documents and uris": Case("add", dict(ids=["a"], documents=["d"], uris=["u"])),
    "upsert metadatas only": Case("upsert", dict(ids=["a"], metadatas=[{"a": 1}])),
    "update documents and images": Case("update", dict(ids=["a"], documents=["d"], images=[np.zeros((2, 2))])),
    "dimension add": Case("add", dict(ids=["a"], embeddings=[[1.0, 2.0]])),
    "dimension update": Case("update", dict(ids=["seed"], embeddings=[[1.0, 2.0]])),
    "dimension upsert": Case("upsert", dict(ids=["seed"], embeddings=[[1.0, 2.0]])),
    "dimension beats empty id": Case("add", dict(ids=["a", ""], embeddings=[[1.0, 2.0]] * 2)),
    "ragged": Case("add", dict(ids=["a", "b"], embeddings=[[1, 2, 3], [1, 2]]), dim=None),
    "ragged beats dimension": Case("add", dict(ids=["a", "b"], embeddings=[[1, 2], [1, 2, 3]])),
    "ragged beats empty id": Case("add", dict(ids=["", "b"], embeddings=[[1, 2, 3], [1, 2]])),
    "nan": Case("add", dict(ids=["a"], embeddings=NAN_ROW)),
    "inf": Case("add", dict(ids=["a"], embeddings=[[1.0, float("inf"), 2.0]])),
    "nan update": Case("update", dict(ids=["seed"], embeddings=NAN_ROW)),
    "nan beats ragged": Case("add", dict(ids=["a", "b"], embeddings=[[1, 2, float("nan")], [1, 2]])),
    "nan and bad key": Case("add", dict(ids=["a"], embeddings=NAN_ROW, metadatas=[{"#a": 1}])),
    "non-numeric embedding": Case("add", dict(ids=["a"], embeddings=[["a", "b"]])),
    "embedding row with a string": Case("add", dict(ids=["a"], embeddings=[[1, "a", 3]])),
    "embedding [[]]": Case("add", dict(ids=["a"], embeddings=[[]])),
    "embedding int": Case("add", dict(ids=["a"], embeddings=5)),
    "embedding str": Case("add", dict(ids=["a"], embeddings="abc")),
    "embedding tuple": Case("add", dict(ids=["a"], embeddings=(1.0, 2.0, 3.0))),
    "embedding bools": Case("add", dict(ids=["a"], embeddings=[True, False, True])),
    "embedding np.float32 scalars": Case("add", dict(ids=["a"], embeddings=[np.float32(1)] * 3)),
    "embedding bool ndarray": Case("add", dict(ids=["a"], embeddings=np.ones((1, 3), dtype=bool))),
    "embedding int8 ndarray": Case("add", dict(ids=["a"], embeddings=np.ones((1, 3), dtype=np.int8))),
    "embedding str ndarray": Case("add", dict(ids=["a"], embeddings=np.array([["a", "b", "c"]]))),
    "embedding 3-D ndarray": Case("add", dict(ids=["a"], embeddings=np.ones((1, 1, 3)))),
    "embedding no values": Case("add", dict(ids=["a"], embeddings=np.ones((1, 0)))),
    "embedding 0-d array": Case("add", dict(ids=["a"], embeddings=[np.array(1.0)])),
    "embedding 2-D row in list": Case("add", dict(ids=["a"], embeddings=[np.ones((1, 3))])),
    "embedding mixed list": Case("add", dict(ids=["a", "b"], embeddings=[np.ones(3), [1, 2, 3]])),
    "metadata dict value": Case("add", dict(ids=["a"], embeddings=E3, metadatas=[{"a": {"b": 1}}])),
    "metadata tuple value": Case("add", dict(ids=["a"], embeddings=E3, metadatas=[{"a": (1, 2)}])),
    "metadata numpy int": Case("add", dict(ids=["a"], embeddings=E3, metadatas=[{"a": np.int64(1)}])),
    "metadata None on add": Case("add", dict(ids=["a"], embeddings=E3, metadatas=[{"a": None}])),
    "metadata None beats batch size": Case("add", dict(ids=[str(i) for i in range(6000)], embeddings=BIG,
                                                        metadatas=[{"a": None}] * 6000)),
    "metadata None on upsert": Case("upsert", dict(ids=["a"], embeddings=E3, metadatas=[{"a": None, "b": 1}])),
    "metadata None on update": Case("update", dict(ids=["seed"], metadatas=[{"a": None}])),
    "metadata list mixed": Case("add", dict(ids=["a"], embeddings=E3, metadatas=[{"a": [1, "x"]}])),
    "metadata list int float": Case("add", dict(ids=["a"], embeddings=E3, metadatas=[{"a": [1, 2.0]}])),
    "metadata list nested": Case("add", dict(ids=["a"], embeddings=E3, metadatas=[{"a": [[1]]}])),
    "metadata list empty": Case("add", dict(ids=["a"], embeddings=E3, metadatas=[{"a": []}])),
    "metadata empty dict": Case("add", dict(ids=["a"], embeddings=E3, metadatas=[{}])),
    "metadata None allowed": Case("add", dict(ids=["a"], embeddings=E3, metadatas=[None]), check=True),
    "metadata key not str": Case("add", dict(ids=["a"], embeddings=E3, metadatas=[{1: 1}])),
    "metadata key not str first": Case("add", dict(ids=["a"], embeddings=E3, metadatas=[{1: 1, "chroma:document": 1}])),
    "metadata reserved key": Case("add", dict(ids=["a"], embeddings=E3, metadatas=[{"chroma:document": "x"}])),
    "metadata key empty": Case("add", dict(ids=["a"], embeddings=E3, metadatas=[{"": 1}])),
    "metadata key #": Case("add", dict(ids=["a"], embeddings=E3, metadatas=[{"#a": 1}])),
    "metadata key $ at index 1": Case("add", dict(ids=["a", "b"], embeddings=E3 * 2, metadatas=[None, {"$a": 1}])),
    "metadata key # update": Case("update", dict(ids=["seed"], metadatas=[{"#a": 1}])),
    "metadata key # beats empty id": Case("add", dict(ids=[""], embeddings=E3, metadatas=[{"#a": 1}])),
    "metadatas str": Case("add", dict(ids=["a"], embeddings=E3, metadatas="x")),
    "sparse unsorted": Case("add", dict(ids=["a"], embeddings=E3, metadatas=[
        {"s": {"#type": "sparse_vector", "indices": [3, 1], "values": [0.5, 1.0]}}])),
    "sparse length": Case("add", dict(ids=["a"], embeddings=E3, metadatas=[
        {"s": {"#type": "sparse_vector", "indices": [1], "values": [0.5, 1.0]}}])),
    "sparse no values": Case("add", dict(ids=["a"], embeddings=E3, metadatas=[
        {"s": {"#type": "sparse_vector", "indices": [1]}}])),
    "sparse wrong tag": Case("add", dict(ids=["a"], embeddings=E3, metadatas=[
        {"s": {"#type": "other", "indices": [1], "values": [0.5]}}])),
    "sparse beats unequal lengths": Case("add", dict(ids=["a", "b"], embeddings=E3, metadatas=[
        {"s": {"#type": "sparse_vector", "indices": [3, 1], "values": [0.5, 1.0]}}])),
    "document not str": Case("add", dict(ids=["a"], embeddings=E3, documents=[1])),
    "document None without embeddings": Case("add", dict(ids=["a"], documents=[None])),
    "document None with embeddings": Case("add", dict(ids=["a"], embeddings=E3, documents=[None]), check=True),
    "uri not str": Case("add", dict(ids=["a"], embeddings=E3, uris=[1])),
    "uri None": Case("add", dict(ids=["a"], embeddings=E3, uris=[None])),
    "id error beats document error": Case("add", dict(ids=[1], embeddings=E3, documents=[1])),
    "batch too large": Case("add", dict(ids=[str(i) for i in range(6000)], embeddings=BIG)),
    "batch too large beats bad key": Case("add", dict(ids=[str(i) for i in range(6000)], embeddings=BIG,
                                                       metadatas=[{"#a": 1}] * 6000)),
    "batch too large update": Case("update", dict(ids=[str(i) for i in range(5462)],
                                                  metadatas=[{"a": 1}] * 5462)),
    "batch at max": Case("add", dict(ids=[str(i) for i in range(MAX_BATCH_SIZE)],
                                     embeddings=BIG[:MAX_BATCH_SIZE])),
    # ---- good inputs: Chroma's normalisations
    "single id, flat embedding": Case("add", dict(ids="a", embeddings=[1, 2, 3], metadatas={"k": 1},
                                                  documents="doc"), check=True),
    "ndarray 1-D float64": Case("add", dict(ids=["a"], embeddings=np.array([1.5, 2, 3])), check=True),
    "ndarray 2-D int64": Case("add", dict(ids=["a", "b"], embeddings=np.arange(6).reshape(2, 3)), check=True),
    "list of int32 arrays": Case("add", dict(ids=["a", "b"], embeddings=[np.arange(3, dtype=np.int32)] * 2), check=True),
    "list of float16 arrays": Case("add", dict(ids=["a"], embeddings=[np.ones(3, dtype=np.float16)]), check=True),
    "list of int lists": Case("add", dict(ids=["a", "b"], embeddings=[[1, 2, 3], [4, 5, 6]]), check=True),
    "np.float64 scalars": Case("add", dict(ids=["a"], embeddings=[np.float64(1), np.float64(2), 3.0]), check=True),
    "sparse vector metadata": Case("update", dict(ids=["seed"], metadatas=[{"s": SPARSE}]), differs="TypeError"),
    "upsert and update good": Case("upsert", dict(ids=["seed", "n"], embeddings=E3 * 2,
                                                  metadatas=[{"a": [1, 2]}, {"b": True}]), check=True),
    # ---- get
    "get ids empty": Case("get", dict(ids=[])),
    "get id not str": Case("get", dict(ids=1)),
    "get ids tuple": Case("get", dict(ids=("a", "b"))),
    "get dup ids": Case("get", dict(ids=["a", "a"])),
    "get include tuple": Case("get", dict(include=("documents",))),
    "get include distances": Case("get", dict(include=["distances"])),
    "get include foo": Case("get", dict(include=["foo"])),
    "get include not str": Case("get", dict(include=[1])),
    "get include data": Case("get", dict(include=["data"])),
    "get include empty": Case("get", dict(include=[])),
    "get limit negative": Case("get", dict(limit=-1)),
    "get limit float": Case("get", dict(limit=1.5)),
    "get limit str": Case("get", dict(limit="1")),
    "get limit u32 overflow": Case("get", dict(limit=2**32)),
    "get limit i64 overflow": Case("get", dict(limit=-(2**70))),
    "get offset negative": Case("get", dict(offset=-1)),
    "get offset huge": Case("get", dict(offset=2**70)),
    "get limit beats offset": Case("get", dict(limit=1.5, offset=-1)),
    "get limit True": Case("get", dict(limit=True)),
    "get limit numpy": Case("get", dict(limit=np.int64(1))),
    "get ids beat limit": Case("get", dict(ids=[1], limit=-1)),
    # ---- delete
    "delete nothing": Case("delete", dict()),
    "delete ids with limit": Case("delete", dict(ids=["a"], limit=1)),
    "delete limit negative": Case("delete", dict(where={"a": 1}, limit=-1)),
    "delete limit negative no where": Case("delete", dict(ids=["a"], limit=-1)),
    "delete limit float": Case("delete", dict(where={"a": 1}, limit=1.5)),
    "delete limit bool": Case("delete", dict(where={"a": 1}, limit=True)),
    "delete limit u32 overflow": Case("delete", dict(where={"a": 1}, limit=2**32)),
    "delete ids empty": Case("delete", dict(ids=[])),
    "delete dup ids >=10": Case("delete", dict(ids=[str(i) for i in range(11)] * 2)),
    # ---- query
    "query nothing": Case("query", dict()),
    "query n_results 0": Case("query", dict(query_embeddings=E3, n_results=0)),
    "query n_results negative": Case("query", dict(query_embeddings=E3, n_results=-1)),
    "query n_results float": Case("query", dict(query_embeddings=E3, n_results=1.5)),
    "query n_results numpy": Case("query", dict(query_embeddings=E3, n_results=np.int64(2))),
    "query n_results u32 overflow": Case("query", dict(query_embeddings=E3, n_results=2**32)),
    "query n_results True": Case("query", dict(query_embeddings=E3, n_results=True)),
    "query include foo": Case("query", dict(query_embeddings=E3, include=["foo"])),
    "query include beats n_results": Case("query", dict(query_embeddings=E3, include=["foo"], n_results=0)),
    "query dimension": Case("query", dict(query_embeddings=[[1.0, 2.0]])),
    "query ragged": Case("query", dict(query_embeddings=[[1, 2, 3], [1, 2]])),
    "query ragged fresh": Case("query", dict(query_embeddings=[[1, 2], [1]]), dim=None),
    "query nan accepted": Case("query", dict(query_embeddings=NAN_ROW)),
    "query embeddings and texts unequal": Case("query", dict(query_embeddings=E3, query_texts=["a", "b"])),
    "query texts and uris": Case("query", dict(query_texts=["a"], query_uris=["u"])),
    "query texts None": Case("query", dict(query_texts=[None])),
    "query texts empty": Case("query", dict(query_texts=[])),
    "query embeddings empty": Case("query", dict(query_embeddings=[])),
    "query bad embedding": Case("query", dict(query_embeddings=[["a"]])),
    "query 2-D row": Case("query", dict(query_embeddings=[np.ones((1, 3))])),
    "query ids not str": Case("query", dict(query_embeddings=E3, ids=[1])),
    "query ids beat n_results overflow": Case("query", dict(query_embeddings=E3, ids=[1], n_results=2**32)),
    "query flat embedding, one id": Case("query", dict(query_embeddings=np.array([1, 2, 3]), ids="seed")),
    # ---- create_collection: §2.3 names, collection metadata, configuration §4.2-4.3
    "name too short": Case("create", dict(name="ab")),
    "name too long": Case("create", dict(name="a" * 513)),
    "name 512": Case("create", dict(name="b" * 512)),
    "name double period": Case("create", dict(name="a..b")),
    "name ip address": Case("create", dict(name="10.0.0.1")),
    "name leading dash": Case("create", dict(name="-abc")),
    "name space": Case("create", dict(name="a b")),
    "name non-ascii": Case("create", dict(name="ÄBC")),
    "name trailing newline": Case("create", dict(name="abc\n")),
    "name empty": Case("create", dict(name="")),
    "name not str": Case("create", dict(name=5)),
    "name two topologies": Case("create", dict(name="abc+def+ghi")),
    "name bad topology": Case("create", dict(name="a+bcd")),
    "name long topology": Case("create", dict(name="abc+" + "d" * 600)),
    "metadata empty": Case("create", dict(name="coll-meta-empty", metadata={})),
    "metadata dict value (create)": Case("create", dict(name="coll-meta-dict", metadata={"a": {"b": 1}})),
    "metadata None value (create)": Case("create", dict(name="coll-meta-none", metadata={"a": None})),
    "metadata key not str (create)": Case("create", dict(name="coll-meta-int", metadata={1: 1})),
    "metadata not dict (create)": Case("create", dict(name="coll-meta-str", metadata="x")),
    "metadata key # (create)": Case("create", dict(name="coll-meta-hash", metadata={"#a": 1})),
    "metadata key empty (create)": Case("create", dict(name="coll-meta-emptykey", metadata={"": 1})),
    "name and metadata": Case("create", dict(name="ab", metadata={})),
    "hnsw and spann": Case("create", dict(name="ab", configuration={"hnsw": {}, "spann": {}})),
    "hnsw unknown key": Case("create", dict(name="coll-c1", configuration={"hnsw": {"foo": 1}})),
    "hnsw bad space": Case("create", dict(name="coll-c2", configuration={"hnsw": {"space": "manhattan"}})),
    "hnsw space int": Case("create", dict(name="coll-c3", configuration={"hnsw": {"space": 5}})),
    "hnsw ef str": Case("create", dict(name="coll-c4", configuration={"hnsw": {"ef_search": "x"}})),
    "hnsw ef negative": Case("create", dict(name="coll-c5", configuration={"hnsw": {"ef_search": -1}})),
    "hnsw ef float": Case("create", dict(name="coll-c6", configuration={"hnsw": {"ef_search": 1.5}})),
    "hnsw ef bool": Case("create", dict(name="coll-c7", configuration={"hnsw": {"ef_search": True}})),
    "hnsw ef list": Case("create", dict(name="coll-c8", configuration={"hnsw": {"ef_search": [1]}})),
    "hnsw ef huge": Case("create", dict(name="coll-c9", configuration={"hnsw": {"ef_search": 2**64}})),
    "hnsw resize str": Case("create", dict(name="coll-c10", configuration={"hnsw": {"resize_factor": "a"}})),
    "hnsw second key bad": Case("create", dict(name="coll-c11", configuration={
        "hnsw": {"space": "cosine", "ef_search": "x", "foo": 1}})),
    "hnsw not a dict": Case("create", dict(name="coll-c12", configuration={"hnsw": "x"})),
    "spann unknown key": Case("create", dict(name="coll-c13", configuration={"spann": {"foo": 1}})),
    "spann bad space": Case("create", dict(name="coll-c14", configuration={"spann": {"space": "foo"}})),
    "config error beats metadata error": Case("create", dict(name="ab", metadata={"#a": 1},
                                                             configuration={"hnsw": {"foo": 1}})),
    "metadata conversion beats config error": Case("create", dict(name="coll-c15", metadata={"a": None},
                                                                  configuration={"hnsw": {"foo": 1}})),
    "legacy metadata bad M": Case("create", dict(name="ab", metadata={"hnsw:M": "x"})),
    "legacy metadata sync 1": Case("create", dict(name="coll-c16", metadata={"hnsw:sync_threshold": 1})),
    "legacy metadata unknown key": Case("create", dict(name="coll-c17", metadata={"hnsw:foo": 1})),
    "legacy metadata float M": Case("create", dict(name="coll-c18", metadata={"hnsw:construction_ef": 1.0})),
    "legacy metadata checked with config": Case("create", dict(name="coll-c19", metadata={"hnsw:M": "x"},
                                                               configuration={"hnsw": {"ef_search": 5}})),
    "defaults": Case("create", dict(name="coll-ok1"), check=True),
    "hnsw all keys": Case("create", dict(name="coll-ok2", configuration={"hnsw": {
        "space": "ip", "ef_construction": 50, "ef_search": 20, "max_neighbors": 8, "num_threads": 2,
        "batch_size": 10, "sync_threshold": 1, "resize_factor": 2}}), check=True),
    "legacy metadata": Case("create", dict(name="coll-ok3", metadata={
        "hnsw:space": "cosine", "hnsw:M": 32, "hnsw:construction_ef": 50, "hnsw:search_ef": 30,
        "hnsw:sync_threshold": 500, "hnsw:resize_factor": 2, "hnsw:batch_size": 50, "hnsw:num_threads": 3,
        "other": "x"}), check=True),
    "config beats legacy metadata": Case("create", dict(name="coll-ok4", metadata={"hnsw:space": "cosine", "hnsw:M": 4},
                                                        configuration={"hnsw": {"ef_search": 7}}), check=True),
    "spann becomes hnsw": Case("create", dict(name="coll-ok5", metadata={"hnsw:M": 4},
                                              configuration={"spann": {"space": "cosine", "ef_search": 50}}), check=True),
    "space null": Case("create", dict(name="coll-ok6", configuration={"hnsw": {"space": None, "ef_search": None}}), check=True),
    "unknown top-level key ignored": Case("create", dict(name="coll-ok7", configuration={"foo": 1}), check=True),
    "ef default space": Case("create", dict(name="coll-ok8"), check=True, ef=True),
    "ef default space, legacy M ignored": Case("create", dict(name="coll-ok9", metadata={"hnsw:M": 32}), check=True, ef=True),
    "ef, legacy space wins": Case("create", dict(name="coll-ok10", metadata={"hnsw:space": "ip", "hnsw:M": 32}),
                                  check=True, ef=True),
    "ef, hnsw without space": Case("create", dict(name="coll-ok11", configuration={"hnsw": {"ef_search": 5}}),
                                   check=True, ef=True),
    "ef, spann": Case("create", dict(name="coll-ok12", configuration={"spann": {"ef_search": 5}}), check=True, ef=True),
    "ef, hnsw error column after added space": Case("create", dict(name="coll-c20", configuration={
        "hnsw": {"ef_search": 5, "foo": 1}}), ef=True),
    # ---- modify
    "modify metadata empty": Case("modify", dict(metadata={})),
    "modify metadata dict value": Case("modify", dict(metadata={"a": {"b": 1}})),
    "modify metadata sparse dict": Case("modify", dict(metadata={"a": SPARSE})),
    "modify metadata key not str": Case("modify", dict(metadata={1: 1})),
    "modify metadata not dict": Case("modify", dict(metadata="x")),
    "modify metadata reserved key": Case("modify", dict(metadata={"chroma:document": "x"})),
    "modify metadata key #": Case("modify", dict(metadata={"#a": 1})),
    "modify metadata key empty": Case("modify", dict(metadata={"": 1})),
    "modify hnsw:space": Case("modify", dict(metadata={"hnsw:space": "l2"})),
    "modify hnsw:space beats config": Case("modify", dict(metadata={"hnsw:space": "l2"},
                                                          configuration={"hnsw": {"space": "ip"}})),
    "modify space": Case("modify", dict(configuration={"hnsw": {"space": "ip"}})),
    "modify ef_construction": Case("modify", dict(configuration={"hnsw": {"ef_construction": 7}})),
    "modify ef_search str": Case("modify", dict(configuration={"hnsw": {"ef_search": "x"}})),
    "modify hnsw not a dict": Case("modify", dict(configuration={"hnsw": "x"})),
    "modify spann unknown key": Case("modify", dict(configuration={"spann": {"foo": 7}})),
    "modify hnsw and spann": Case("modify", dict(configuration={"hnsw": {}, "spann": {}})),
    "modify hnsw and spann beat name": Case("modify", dict(name="a", configuration={"hnsw": {}, "spann": {}})),
    "modify spann": Case("modify", dict(configuration={"spann": {"ef_search": 7}})),
    "modify name beats spann": Case("modify", dict(name="a", configuration={"spann": {}})),
    "modify config beats name": Case("modify", dict(name="a", configuration={"hnsw": {"space": "ip"}})),
    "modify name not str": Case("modify", dict(name=5)),
    "modify name bad": Case("modify", dict(name="")),
    "modify name and metadata": Case("modify", dict(name="a", metadata={"#a": 1})),
    "modify metadata None values": Case("modify", dict(metadata={"a": None}), check=True),
    "modify metadata replaces": Case("modify", dict(metadata={"a": None, "b": 2}), check=True),
    "modify hnsw params": Case("modify", dict(configuration={"hnsw": {
        "ef_search": 7, "max_neighbors": 9, "num_threads": 2, "batch_size": 5, "sync_threshold": 1,
        "resize_factor": 3}}), check=True),
    "modify legacy metadata ignored": Case("modify", dict(metadata={"hnsw:search_ef": 5, "hnsw:M": "x"}), check=True),
    "modify empty config": Case("modify", dict(configuration={"hnsw": {}, "foo": 1}), check=True),
}


# =========================================================================== chroma side


@pytest.fixture(scope="module")
def chroma():
    chromadb = pytest.importorskip("chromadb")
    from chromadb.api.types import EmbeddingFunction
    from chromadb.utils.embedding_functions import register_embedding_function

    @register_embedding_function
    class CosineEF(EmbeddingFunction):
        def __init__(self) -> None:
            pass

        def __call__(self, input):  # noqa: A002 - Chroma's protocol
            return [np.ones(3, dtype=np.float32) for _ in input]

        @staticmethod
        def name() -> str:
            return "chroma_frame_test_cosine"

        def default_space(self):
            return "cosine"

        def supported_spaces(self):
            return ["cosine", "l2", "ip"]

        def get_config(self):
            return {}

        @staticmethod
        def build_from_config(config):
            return CosineEF()

    client = chromadb.EphemeralClient()
    client.cosine_ef = CosineEF
    return client


_names = itertools.count()


def chroma_run(client, case: Case) -> Any:
    verb, kw = case.verb, case.kw
    if verb == "create":
        ef = client.cosine_ef() if case.ef else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            col = client.create_collection(embedding_function=ef, **kw)
        return col.configuration_json["hnsw"]
    col = client.create_collection(f"vt{next(_names)}", embedding_function=None,
                                   metadata={"x": 1} if verb == "modify" else None)
    if case.dim is not None:
        col.add(ids=["seed"], embeddings=[[0.0] * case.dim])
    if verb == "modify":
        col.modify(**kw)
        fresh = client.get_collection(col.name, embedding_function=None)
        return fresh.configuration_json["hnsw"], fresh.metadata
    result = getattr(col, verb)(**kw)
    if verb in ("add", "upsert", "update") and case.check:
        ids = [kw["ids"]] if isinstance(kw["ids"], str) else kw["ids"]
        got = col.get(ids=ids, include=["embeddings", "metadatas", "documents"])
        order = [got["ids"].index(i) for i in ids]
        return (np.asarray(got["embeddings"])[order], [got["metadatas"][i] for i in order],
                [got["documents"][i] for i in order])
    return result


def ours_run(case: Case) -> Any:
    verb, kw = case.verb, case.kw
    if verb in ("add", "upsert", "update"):
        return ours_write(verb, case.dim, **kw)
    if verb == "create":
        return ours_create("cosine" if case.ef else None, **kw)
    if verb == "modify":
        return ours_modify(**kw)
    return {"get": ours_get, "delete": ours_delete, "query": ours_query}[verb](case.dim, **kw)


def _same_result(case: Case, theirs: Any, ours: Any) -> None:
    if not case.check:
        return
    if case.verb == "create":
        assert ours["hnsw"] == theirs
    elif case.verb == "modify":
        stored, config = ours
        their_config, their_metadata = theirs
        assert config["hnsw"] == their_config
        expected_metadata = stored if "metadata" in case.kw else {"x": 1}
        assert expected_metadata == their_metadata
    else:
        embeddings, metadatas, documents = theirs
        np.testing.assert_array_equal(ours.embeddings, embeddings)
        assert ours.embeddings.dtype == np.float32
        if case.verb == "add":
            assert (ours.metadatas or [None] * len(ours.ids)) == metadatas
            assert (ours.documents or [None] * len(ours.ids)) == documents


@pytest.mark.parametrize("name", list(CASES))
def test_same_as_chroma(chroma, name):
    case = CASES[name]
    theirs = outcome(chroma_run, chroma, case)
    ours = outcome(ours_run, case)
    if case.differs:
        assert (ours[0], theirs[0]) == ("ok", case.differs)
        return
    assert ours[0] == theirs[0], f"{name}: ours {ours}, chroma {theirs}"
    if ours[0] == "ok":
        _same_result(case, theirs[1], ours[1])
    else:
        assert ours[1] == theirs[1]


_scalar = st.one_of(st.integers(-5, 5), st.floats(-2, 2, allow_nan=False), st.text("ab#$", max_size=2),
                   st.booleans(), st.none())
_value = st.one_of(_scalar, st.lists(_scalar, max_size=3), st.dictionaries(st.just("b"), _scalar, max_size=1),
                   st.tuples(_scalar))
_metadata = st.one_of(st.none(), st.dictionaries(
    st.sampled_from(["a", "b", "", "#x", "$y", "chroma:document", 1]), _value, max_size=3))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(op=st.sampled_from(["add", "upsert", "update"]), metadatas=st.lists(_metadata, min_size=1, max_size=3))
def test_record_metadata_same_as_chroma(chroma, op, metadatas):
    col = chroma.get_or_create_collection("vt-metadata-property", embedding_function=None)
    ids = [f"m{next(_names)}" for _ in metadatas]
    kw = dict(ids=ids, embeddings=[[1.0, 2.0, 3.0]] * len(ids), metadatas=metadatas)
    theirs = outcome(getattr(col, op), **kw)
    ours = outcome(ours_write, op, 3, **kw)
    assert ours[0] == theirs[0], (ours, theirs)
    if ours[0] != "ok":
        assert ours[1] == theirs[1]


# =========================================================================== plain unit tests (no chromadb)


def raises(exc_type, message, fn, *args, **kwargs):
    with pytest.raises(exc_type) as info:
        fn(*args, **kwargs)
    assert type(info.value) is exc_type
    assert str(info.value) == message
    return info.value


def test_validation_context_suffixes_python_errors_only():
    with pytest.raises(ValueError, match=r"^boom in add\.$"):
        with validation_context("add"):
            raise ValueError("boom")
    with pytest.raises(DuplicateIDError, match=r"^dup in get\.$"):
        with validation_context("get"):
            raise DuplicateIDError("dup")
    with pytest.raises(InvalidArgumentError, match=r"^engine$"):
        with validation_context("add"):
            raise InvalidArgumentError("engine")


def test_normalisations():
    rs = normalize_records("add", "a", [1, 2, 3], {"k": 1}, "doc")
    assert rs.ids == ["a"] and rs.metadatas == [{"k": 1}] and rs.documents == ["doc"]
    assert rs.embeddings.dtype == np.float32 and rs.embeddings.shape == (1, 3)
    matrix = np.ones((2, 3), dtype=np.float32)
    assert normalize_records("add", ["a", "b"], matrix).embeddings is matrix  # no copy
    row = np.ones(3, dtype=np.float32)
    assert np.shares_memory(normalize_records("add", ["a"], row).embeddings, row)
    ints = normalize_records("upsert", ["a", "b"], [np.arange(3, dtype=np.int32), np.arange(3)])
    assert ints.embeddings.dtype == np.float32 and ints.embeddings.tolist() == [[0, 1, 2]] * 2
    assert normalize_records("update", ["a"], metadatas=[{"a": None}]).embeddings is None


def test_caller_arguments_untouched():
    metadatas = [{"s": dict(SPARSE), "a": 1}]
    ids, embeddings = ["a"], [[1, 2, 3]]
    rs = normalize_records("add", ids, embeddings, metadatas)
    assert metadatas == [{"s": SPARSE, "a": 1}] and ids == ["a"] and embeddings == [[1, 2, 3]]
    assert rs.metadatas[0] is not metadatas[0] and rs.metadatas[0]["s"] == SPARSE
    include = ["data"]
    assert check_include(include, "query") == ["data", "uris"] and include == ["data"]


def test_python_side_messages():
    raises(ValueError, "Non-empty lists are required for ['ids']", normalize_records, "add", [])
    raises(ValueError, "Unequal lengths for fields: ids: 2, metadatas: 1, embeddings: 2",
           normalize_records, "add", ["a", "b"], [[1]] * 2, [{"a": 1}])
    raises(DuplicateIDError, "Expected IDs to be unique, found duplicates of: x",
           normalize_records, "add", ["x", "x"], [[1]] * 2)
    with pytest.raises(DuplicateIDError, match=r"found 12 duplicated IDs: (\w+, ){5}\.\.\., (\w+, ){4}\w+$"):
        normalize_records("add", [f"d{i}" for i in range(12)] * 2, [[1]] * 24)
    raises(ValueError, "Expected ID to be a str, got 1", normalize_records, "add", [1], [[1]])
    raises(ValueError, "Expected document to be a str, got None", normalize_records, "add", ["a"], documents=[None])
    raises(ValueError, "Expected metadata list value for key 'a' to be non-empty",
           normalize_records, "add", ["a"], [[1]], [{"a": []}])
    raises(TypeError, "Expected metadata key to be a str, got 1 which is a int",
           normalize_records, "add", ["a"], [[1]], [{1: 1}])
    raises(ValueError, "Expected metadata to not contain the reserved key chroma:document",
           normalize_records, "add", ["a"], [[1]], [{"chroma:document": 1}])
    raises(ValueError, "Expected metadata value to be a str, int, float, bool, SparseVector, list, or None, "
           "got {'b': 1} which is a dict", normalize_records, "add", ["a"], [[1]], [{"a": {"b": 1}}])
    raises(ValueError, "Expected each value in the embedding to be a int or float, got an embedding with "
           "bool - [ True  True]", normalize_records, "add", ["a"], np.ones((1, 2), dtype=bool))
    raises(ValueError, "SparseVector indices must be non-negative, got -1 at position 0", normalize_records,
           "add", ["a"], [[1]], [{"s": {"#type": "sparse_vector", "indices": [-1], "values": [1.0]}}])
    raises(ValueError, "Exactly one of documents, images, uris must be provided", normalize_records, "add", ["a"])
    raises(ValueError, "Exactly one of documents, images must be provided",
           normalize_records, "upsert", ["a"], metadatas=[{"a": 1}])


def test_engine_side_messages():
    raises(InvalidArgumentError, "Empty ID, ID must have at least one character",
           check_records_engine, normalize_records("add", [""], [[1, 2]]), 2)
    raises(InvalidArgumentError, "Collection expecting embedding with dimension of 3, got 2",
           check_records_engine, normalize_records("add", ["a"], [[1, 2]]), 3)
    raises(InvalidArgumentError, "Inconsistent dimensions in provided embeddings",
           check_records_engine, normalize_records("add", ["a", "b"], [[1, 2], [1]]), None)
    raises(InvalidArgumentError, "Validation error: embeddings: Embeddings must not contain NaN or Infinity values",
           check_records_engine, normalize_records("add", ["a"], [[1, float("nan")]]), None)
    raises(InvalidArgumentError, "Validation error: metadatas: Invalid metadata at index 1",
           check_records_engine, normalize_records("add", ["a", "b"], [[1]] * 2, [None, {"$a": 1}]), None)
    raises(TypeError, "argument 'metadatas': Cannot convert Python object to MetadataValue",
           check_records_engine, normalize_records("add", ["a"], [[1]], [{"a": None}]), None)
    check_records_engine(normalize_records("upsert", ["a"], [[1]], [{"a": None}]), None)
    big = normalize_records("add", [str(i) for i in range(6000)], np.ones((6000, 2)))
    raises(InternalError, "ValueError: Batch size of 6000 is greater than max batch size of 5461",
           check_records_engine, big, 2)
    check_records_engine(normalize_records("add", ["a"], [[1]], [{"s": SPARSE}]), 1)  # our choice: accepted


def test_attach_embeddings():
    rs = normalize_records("add", ["a", "b"], documents=["x", "y"])
    rs = attach_embeddings(rs, [np.ones(4), np.zeros(4)])
    assert rs.embeddings.shape == (2, 4) and rs.embeddings.dtype == np.float32
    check_records_engine(rs, 4)


def test_get_delete_query_arguments():
    assert normalize_ids("get", "a") == ["a"] and normalize_ids("get", None) is None
    raises(ValueError, "Expected IDs to be a non-empty list, got 0 IDs", normalize_ids, "delete", [])
    assert normalize_ids("query", [1]) == [1]  # only the engine checks query ids
    raises(ValueError, "Expected include to be a list, got None", check_include, None, "get")  # as Chroma
    assert check_include(["documents"], "query") == ["documents"]
    raises(ValueError, "Include item cannot be one of distances, got distances", check_include, ["distances"], "get")
    raises(ValueError, "Expected include to be a list, got ('documents',)", check_include, ("documents",), "get")
    assert check_n_results(True) == 1
    raises(TypeError, "Number of requested results 0, cannot be negative, or zero.", check_n_results, 0)
    raises(ValueError, "Expected requested number of results to be a int, got 1.5", check_n_results, 1.5)
    assert check_limit_offset(None, None, "get") == (None, 0)
    assert check_limit_offset(np.int64(3), 2, "get") == (3, 2)
    raises(OverflowError, "out of range integral type conversion attempted", check_limit_offset, -1, None, "get")
    raises(TypeError, "argument 'offset': 'float' object cannot be interpreted as an integer",
           check_limit_offset, 1, 1.5, "get")
    raises(ValueError, "At least one of ids, where, or where_document must be provided",
           check_delete_args, None, None, None, None)
    raises(TypeError, "limit must be a non-negative integer", check_delete_args, None, {"a": 1}, None, True)
    raises(ValueError, "limit can only be specified when a where or where_document clause is provided",
           check_delete_args, ["a"], None, None, 1)
    q = normalize_query_embeddings([1, 2, 3])
    assert q.shape == (1, 3) and q.dtype == np.float32 and normalize_query_embeddings(None) is None
    raises(InvalidArgumentError, "Collection expecting embedding with dimension of 2, got 3",
           check_query_engine, None, q, 10, 2)
    raises(TypeError, "argument 'ids': 'int' object cannot be converted to 'PyString'", check_query_engine, [1], q, 1, 3)
    raises(ValueError, "At least one of one of embeddings, documents, images, uris must be provided", normalize_query)


def test_names():
    check_collection_name("ab_c.d-e")
    check_collection_name("abc+def")
    prefix = "Validation error: name: "
    raises(InvalidArgumentError, prefix + "Expected a name containing 3-512 characters from [a-zA-Z0-9._-], "
           "starting and ending with a character in [a-zA-Z0-9]. Got: ab", check_collection_name, "ab")
    raises(InvalidArgumentError, prefix + "Expected a name that does not contains two consecutive periods (..). "
           "Got a..b", check_collection_name, "a..b")
    raises(InvalidArgumentError, prefix + "Expected a name that is not a valid ip address. Got 10.0.0.1",
           check_collection_name, "10.0.0.1")
    check_collection_name("127.0.0.01")
    raises(TypeError, "argument 'name': 'int' object cannot be converted to 'PyString'", check_collection_name, 1)
    check_tenant_name("a..b")
    raises(InvalidArgumentError, 'Validation error: name: Validation error: length '
           '[{"value": String("ab"), "min": Number(3)}]', check_tenant_name, "ab")
    check_database_name("éé")  # 4 bytes
    raises(InvalidArgumentError, "database name must be at least 3 characters", check_database_name, "ab")


def test_collection_metadata():
    check_collection_metadata(None)
    check_collection_metadata({"a": 1, "chroma:document": "x", "n": np.int64(3)})
    raises(InvalidArgumentError, "Validation error: metadata: Metadata cannot be empty", check_collection_metadata, {})
    raises(InvalidArgumentError, "Validation error: metadata: Metadata key cannot be empty",
           check_collection_metadata, {"": 1})
    raises(InvalidArgumentError, "Validation error: metadata: Metadata key cannot start with '#' or '$': $a",
           check_collection_metadata, {"$a": 1})
    raises(TypeError, "argument 'metadata': Cannot convert Python object to MetadataValue",
           check_collection_metadata, {"a": None})
    raises(InvalidArgumentError, "Validation error: metadata: Collection metadata value for key 'a' cannot be a list",
           check_collection_metadata, {"a": [1, 2]})


def test_configuration():
    assert normalize_configuration(None, None, None) == {"hnsw": DEFAULT_HNSW, "spann": None}
    assert normalize_configuration({"hnsw": {"space": "cosine"}}, None, None)["hnsw"]["space"] == "cosine"
    legacy = normalize_configuration(None, {"hnsw:space": "ip", "hnsw:M": 32, "hnsw:resize_factor": 2}, None)["hnsw"]
    assert legacy == {**DEFAULT_HNSW, "space": "ip", "max_neighbors": 32, "resize_factor": 2.0}
    assert normalize_configuration(None, None, "cosine")["hnsw"]["space"] == "cosine"
    assert normalize_configuration(None, {"hnsw:M": 8}, "cosine")["hnsw"]["max_neighbors"] == 16
    assert normalize_configuration({"spann": {"space": "ip"}}, None, None)["hnsw"]["space"] == "ip"
    nn = {"k": 10, "rho": 0.5}
    assert normalize_configuration({"nndescent": nn}, None, None)["nndescent"] == nn
    raises(ValueError, "hnsw and spann cannot both be provided",
           normalize_configuration, {"hnsw": {}, "spann": {}}, None, None)
    raises(InvalidArgumentError, "unknown field `foo`, expected one of `space`, `ef_construction`, `ef_search`, "
           "`max_neighbors`, `num_threads`, `resize_factor`, `sync_threshold`, `batch_size` at line 1 column 15",
           normalize_configuration, {"hnsw": {"foo": 1}}, None, None)
    raises(InvalidArgumentError, "invalid value: integer `-1`, expected usize at line 1 column 25",
           normalize_configuration, {"hnsw": {"ef_search": -1}}, None, None)
    raises(InvalidArgumentError, "Failed to parse hnsw parameters from segment metadata",
           normalize_configuration, None, {"hnsw:batch_size": 1}, None)


def test_configuration_update():
    current = {**normalize_configuration(None, None, None), "nndescent": {"k": 10, "rho": 0.5}}
    new = check_configuration_update(current, {"hnsw": {"ef_search": 7, "num_threads": 4}, "nndescent": {"k": 5}}, None)
    assert new["hnsw"] == {**DEFAULT_HNSW, "ef_search": 7}
    assert new["nndescent"] == {"k": 5, "rho": 0.5} and current["hnsw"]["ef_search"] == 100
    raises(ValueError, "Changing the distance function of a collection once it is created is not supported currently.",
           check_configuration_update, current, None, {"hnsw:space": "ip"})
    raises(InvalidArgumentError, "unknown field `space`, expected one of `ef_search`, `max_neighbors`, `num_threads`, "
           "`resize_factor`, `sync_threshold`, `batch_size` at line 1 column 17",
           check_configuration_update, current, {"hnsw": {"space": "ip"}}, None)
    raises(InvalidArgumentError, "unknown field `foo`, expected `search_nprobe` or `ef_search` at line 1 column 30",
           check_configuration_update, current, {"spann": {"foo": 1}}, None)
    stored, config = prepare_modify_collection(current, None, {"a": None, "b": 1}, None)
    assert stored == {"b": 1} and config == current
    assert prepare_modify_collection(current, None, {"a": None}, None)[0] is None
    assert prepare_create_collection("abc", {"hnsw:M": 4}, None, None)["hnsw"]["max_neighbors"] == 4
