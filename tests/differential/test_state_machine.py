"""Differential state machine: the same random calls on chromadb 1.5.9 and on chroma_frame.

chromadb runs in one ``EphemeralClient`` for the module; chroma_frame in a ``PersistentClient`` on
a temporary directory (``durable=False``), and is sometimes compacted or reopened from disk. Each run creates a uniquely named collection (space l2, cosine or ip,
dimension 3, ``embedding_function=None``) on both sides and drops it at teardown. After every step
the whole collection is compared (an invariant), and every call's result, or its exception class
and message, must be the same on both sides.

Embeddings are multiples of 1/8 in [-3, 3], exact in float32, so distances are exact and rarely
tied; query results are compared tie-tolerantly anyway (see ``support.assert_same_query``).
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import tempfile
import uuid

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import chroma_frame
from tests.differential.support import (
    Outcome,
    assert_same_get,
    assert_same_query,
    assert_same_typed,
    check_outcomes,
    run,
)
from tests.filters.filter_strategies import WHERE_DOCUMENTS, WHERES  # valid random filter trees

chromadb = pytest.importorskip("chromadb")

# -- strategies -----------------------------------------------------------------------------

ID_POOL = [f"id{i}" for i in range(12)]
ID_LISTS = st.lists(st.sampled_from(ID_POOL), min_size=1, max_size=6, unique=True)
COMPONENT = st.integers(-24, 24).map(lambda x: x / 8)
EMBEDDING = st.lists(COMPONENT, min_size=3, max_size=3)
# record metadata: keys "a" and "b" are the ones the filter strategies query, "c" is never queried
KEYS = ["a", "b", "c"]
STRS = st.sampled_from(["", "x", "y", "xy", "1", "a b"])
INTS = st.sampled_from([0, 1, 2, -1, 3, 2**53 + 1, 2**63 - 1, -(2**63)])
FLOATS = st.sampled_from([0.0, -0.0, 1.0, 1.5, 2.0, -1.5, 2.5, 2.0**53, 1e300, -1e300])
SCALARS = st.one_of(STRS, INTS, FLOATS, st.booleans())
LIST_VALUES = st.one_of(*(st.lists(s, min_size=1, max_size=3) for s in (STRS, INTS, FLOATS, st.booleans())))
METADATA = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(KEYS), st.one_of(SCALARS, SCALARS, LIST_VALUES), min_size=1, max_size=3),
)
# update may also remove keys (a value of None)
UPDATE_METADATA = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(KEYS), st.one_of(SCALARS, LIST_VALUES, st.none()), min_size=1, max_size=3),
)
DOCUMENTS = st.one_of(st.none(), st.sampled_from(["", "a", "ab", "A b", "ba.", "b\nA", "aab", "bB a"]))
# filters: the shared strategies of tests/filters (edge-case operands, mostly selective), and small
# trees over the values stored here, so that filters often match some records but not all
_SCALAR_OPERAND = st.one_of(STRS, st.sampled_from([0, 1, 2, -1, 3]), st.sampled_from([0.0, 1.0, 1.5, 2.5]), st.booleans())
_LEAF = st.one_of(
    st.builds(lambda k, v: {k: v}, st.sampled_from(KEYS), _SCALAR_OPERAND),
    st.builds(lambda k, op, v: {k: {op: v}}, st.sampled_from(KEYS),
              st.sampled_from(["$eq", "$ne", "$contains", "$not_contains"]), _SCALAR_OPERAND),
    st.builds(lambda k, op, v: {k: {op: v}}, st.sampled_from(KEYS), st.sampled_from(["$gt", "$gte", "$lt", "$lte"]),
              st.sampled_from([-1, 0, 1, 1.5, 2, 2.5])),
    st.builds(lambda k, op, v: {k: {op: v}}, st.sampled_from(KEYS), st.sampled_from(["$in", "$nin"]),
              st.one_of(st.lists(STRS, min_size=1, max_size=3), st.lists(st.sampled_from([0, 1, 2, 3]), min_size=1, max_size=3))),
    st.builds(lambda op, v: {"#document": {op: v}}, st.sampled_from(["$contains", "$not_contains"]),
              st.sampled_from(["a", "b", "A", "ab", " "])),
)
_DOC_LEAF = st.one_of(
    st.builds(lambda op, v: {op: v}, st.sampled_from(["$contains", "$not_contains"]), st.sampled_from(["a", "b", "A", "ab", " ", "."])),
    st.builds(lambda op, v: {op: v}, st.sampled_from(["$regex", "$not_regex"]), st.sampled_from(["^a", "b$", "(?i)a", "a.b", "^$", "\\."])),
)


def _small_tree(leaf):
    return st.one_of(leaf, leaf, st.builds(lambda op, kids: {op: kids}, st.sampled_from(["$and", "$or"]),
                                           st.lists(leaf, min_size=2, max_size=3)))


ANY_WHERE = st.one_of(WHERES, _small_tree(_LEAF), _small_tree(_LEAF))
ANY_WHERE_DOCUMENT = st.one_of(WHERE_DOCUMENTS, _small_tree(_DOC_LEAF), _small_tree(_DOC_LEAF))
GET_INCLUDE = ["documents", "embeddings", "metadatas", "uris"]
QUERY_INCLUDE = GET_INCLUDE + ["distances"]


def _embeddings(rows: list[list[float]], as_array: bool):
    return np.array(rows, dtype=np.float32) if as_array else rows


@st.composite
def seed_kwargs(draw) -> dict:
    """A first add of 5-10 records with every field."""
    ids = draw(st.lists(st.sampled_from(ID_POOL), min_size=5, max_size=10, unique=True))
    n = len(ids)
    return {
        "ids": ids,
        "embeddings": draw(st.lists(EMBEDDING, min_size=n, max_size=n)),
        "metadatas": draw(st.lists(METADATA, min_size=n, max_size=n)),
        "documents": draw(st.lists(DOCUMENTS, min_size=n, max_size=n)),
    }


@st.composite
def write_kwargs(draw, op: str) -> dict:
    ids = draw(ID_LISTS)
    n = len(ids)
    kwargs: dict = {"ids": ids}
    # add / upsert need embeddings (no embedding function); update may leave them out
    if op != "update" or draw(st.booleans()):
        kwargs["embeddings"] = _embeddings(draw(st.lists(EMBEDDING, min_size=n, max_size=n)), draw(st.booleans()))
    if draw(st.booleans()):
        # chromadb 1.5.9 accepts None values in upsert too (add rejects them): a missing key either way
        kwargs["metadatas"] = draw(st.lists(METADATA if op == "add" else UPDATE_METADATA, min_size=n, max_size=n))
    if draw(st.booleans()):
        # documents without embeddings in an update need an embedding function; keep that rare
        if "embeddings" in kwargs or _chance(draw, 1):
            kwargs["documents"] = draw(st.lists(DOCUMENTS, min_size=n, max_size=n))
    if n == 1 and _chance(draw, 2):
        # the one-record forms: a bare id, a flat embedding, a metadata dict, a document string
        kwargs = {k: (v[0] if k != "metadatas" or v[0] is not None else v) for k, v in kwargs.items()}
        if isinstance(kwargs.get("embeddings"), np.ndarray):
            kwargs["embeddings"] = kwargs["embeddings"].tolist()
    return kwargs


def _chance(draw, in_four: int) -> bool:
    """True ``in_four`` times out of four (sampled_from is uniform; small integers are not)."""
    return draw(st.sampled_from([True] * in_four + [False] * (4 - in_four)))


def _filters(draw, kwargs: dict) -> None:
    if _chance(draw, 1):
        kwargs["where"] = draw(ANY_WHERE)
    if _chance(draw, 1):
        kwargs["where_document"] = draw(ANY_WHERE_DOCUMENT)


@st.composite
def get_kwargs(draw) -> dict:
    kwargs: dict = {}
    if _chance(draw, 1):
        kwargs["ids"] = draw(ID_LISTS)
        if len(kwargs["ids"]) == 1 and _chance(draw, 2):
            kwargs["ids"] = kwargs["ids"][0]
    _filters(draw, kwargs)
    limit = draw(st.one_of(st.none(), st.integers(0, 13)))
    if limit is not None:
        kwargs["limit"] = limit
    offset = draw(st.one_of(st.none(), st.integers(0, 3), st.integers(0, 13)))
    if offset is not None:
        kwargs["offset"] = offset
    include = draw(st.one_of(st.none(), st.lists(st.sampled_from(GET_INCLUDE), unique=True, max_size=4)))
    if include is not None:
        kwargs["include"] = include
    return kwargs


@st.composite
def query_kwargs(draw) -> dict:
    n = draw(st.integers(1, 2))
    kwargs: dict = {
        "query_embeddings": _embeddings(draw(st.lists(EMBEDDING, min_size=n, max_size=n)), draw(st.booleans())),
        "n_results": draw(st.integers(1, 15)),
    }
    if _chance(draw, 1):
        kwargs["ids"] = draw(ID_LISTS)
    _filters(draw, kwargs)
    include = draw(st.one_of(st.none(), st.lists(st.sampled_from(QUERY_INCLUDE), unique=True, max_size=5)))
    if include is not None:
        kwargs["include"] = include
    return kwargs


@st.composite
def delete_kwargs(draw) -> dict:
    mode = draw(st.sampled_from(["ids", "where", "where_document", "both", "ids_where"]))
    kwargs: dict = {}
    if mode in ("ids", "ids_where"):
        kwargs["ids"] = draw(ID_LISTS)
    if mode in ("where", "both", "ids_where"):
        kwargs["where"] = draw(ANY_WHERE)
    if mode in ("where_document", "both"):
        kwargs["where_document"] = draw(ANY_WHERE_DOCUMENT)
    if mode != "ids" and draw(st.booleans()):
        kwargs["limit"] = draw(st.integers(0, 5))
    return kwargs


E3 = [[0.5, 1.0, -1.0]]
E3x2 = [[0.5, 1.0, -1.0], [1.0, 0.0, 2.0]]

# (label, method, kwargs): invalid calls; both libraries must fail with the same class and message
INVALID_CALLS = [
    ("duplicate ids in add", "add", dict(ids=["id0", "id0"], embeddings=E3x2)),
    ("duplicate ids in upsert", "upsert", dict(ids=["id1", "id1"], embeddings=E3x2)),
    ("duplicate ids in update", "update", dict(ids=["id1", "id1"], embeddings=E3x2)),
    ("duplicate ids in get", "get", dict(ids=["id1", "id1"])),
    ("duplicate ids in delete", "delete", dict(ids=["id1", "id1"])),
    ("mismatched lengths: embeddings", "add", dict(ids=["id0", "id1"], embeddings=E3)),
    ("mismatched lengths: metadatas", "upsert", dict(ids=["id0", "id1"], embeddings=E3x2, metadatas=[{"a": 1}])),
    ("mismatched lengths: documents", "update", dict(ids=["id0"], embeddings=E3, documents=["x", "y"])),
    ("empty ids", "add", dict(ids=[])),
    ("empty ids and embeddings", "add", dict(ids=[], embeddings=[])),
    ("empty ids in get", "get", dict(ids=[])),
    ("empty ids in delete", "delete", dict(ids=[])),
    ("empty-string id", "add", dict(ids=[""], embeddings=E3)),
    ("non-str id", "add", dict(ids=[1], embeddings=E3)),
    ("no embeddings nor documents", "add", dict(ids=["id0"])),
    ("non-numeric embedding", "add", dict(ids=["id0"], embeddings=[["a", "b", "c"]])),
    ("ragged embeddings", "add", dict(ids=["id0", "id1"], embeddings=[[1.0, 2.0, 3.0], [1.0, 2.0]])),
    ("nan embedding", "upsert", dict(ids=["id0"], embeddings=[[float("nan"), 0.0, 0.0]])),
    ("metadata {}", "add", dict(ids=["id0"], embeddings=E3, metadatas=[{}])),
    ("metadata dict value", "add", dict(ids=["id0"], embeddings=E3, metadatas=[{"a": {"b": 1}}])),
    ("metadata empty list", "upsert", dict(ids=["id0"], embeddings=E3, metadatas=[{"a": []}])),
    ("metadata mixed list", "add", dict(ids=["id0"], embeddings=E3, metadatas=[{"a": [1, "x"]}])),
    ("metadata None value in add", "add", dict(ids=["id0"], embeddings=E3, metadatas=[{"a": None}])),
    ("metadata None value in upsert (chromadb accepts it)", "upsert", dict(ids=["id0"], embeddings=E3, metadatas=[{"a": None}])),
    ("metadata reserved key", "add", dict(ids=["id0"], embeddings=E3, metadatas=[{"chroma:document": "x"}])),
    ("metadata key #", "add", dict(ids=["id0"], embeddings=E3, metadatas=[{"#a": 1}])),
    ("metadata key $", "upsert", dict(ids=["id0"], embeddings=E3, metadatas=[{"$a": 1}])),
    ("metadata key ''", "add", dict(ids=["id0"], embeddings=E3, metadatas=[{"": 1}])),
    ("metadata non-str key", "add", dict(ids=["id0"], embeddings=E3, metadatas=[{1: 1}])),
    ("non-str document", "add", dict(ids=["id0"], embeddings=E3, documents=[1])),
    ("get include distances", "get", dict(include=["distances"])),
    ("get include foo", "get", dict(include=["foo"])),
    ("get include tuple", "get", dict(include=("documents",))),
    ("query include foo", "query", dict(query_embeddings=E3, include=["foo"])),
    ("query n_results=0", "query", dict(query_embeddings=E3, n_results=0)),
    ("query n_results=-1", "query", dict(query_embeddings=E3, n_results=-1)),
    ("query n_results=1.5", "query", dict(query_embeddings=E3, n_results=1.5)),
    ("query nothing", "query", dict()),
    ("delete nothing", "delete", dict()),
    ("delete ids with limit", "delete", dict(ids=["id0"], limit=1)),
    ("delete negative limit", "delete", dict(where={"a": 1}, limit=-1)),
    ("get negative limit", "get", dict(limit=-1)),
    ("get negative offset", "get", dict(offset=-1)),
    ("where {}", "get", dict(where={})),
    ("where two keys", "get", dict(where={"a": 1, "b": 2})),
    ("where $gt str", "get", dict(where={"a": {"$gt": "x"}})),
    ("where $in []", "get", dict(where={"a": {"$in": []}})),
    ("where $in mixed", "query", dict(query_embeddings=E3, where={"a": {"$in": [1, "x"]}})),
    ("where $in int/bool", "get", dict(where={"a": {"$in": [1, True]}})),
    ("where $and one child", "get", dict(where={"$and": [{"a": 1}]})),
    ("where $foo op", "delete", dict(where={"a": {"$foo": 1}})),
    ("where None value", "get", dict(where={"a": None})),
    ("where top-level $contains", "get", dict(where={"$contains": "x"})),
    ("where top-level $foo", "get", dict(where={"$foo": 1})),
    ("where $eq list", "get", dict(where={"a": {"$eq": [1, 2]}})),
    ("where #document eq", "get", dict(where={"#document": "x"})),
    ("where_document $foo", "get", dict(where_document={"$foo": "x"})),
    ("where_document empty $contains", "delete", dict(where_document={"$contains": ""})),
    ("where_document non-str", "get", dict(where_document={"$contains": 1})),
    ("where_document bad regex", "get", dict(where_document={"$regex": "("})),
    ("where_document {}", "query", dict(query_embeddings=E3, where_document={})),
]
# calls whose outcome depends on the collection's dimension being already fixed
WRONG_DIMENSION_CALLS = [
    ("wrong dimension in add", "add", dict(ids=["id0", "id1"], embeddings=[[1.0, 2.0], [3.0, 4.0]])),
    ("wrong dimension in upsert", "upsert", dict(ids=["id2"], embeddings=[[1.0, 2.0, 3.0, 4.0]])),
    ("wrong dimension in update", "update", dict(ids=["id3"], embeddings=[[1.0, 2.0]])),
    ("wrong dimension in query", "query", dict(query_embeddings=[[1.0, 2.0]])),
]

# -- the clients ------------------------------------------------------------------------------

_clients: dict = {}
_names = itertools.count()


def _chroma():
    if "chroma" not in _clients:
        _clients["chroma"] = chromadb.EphemeralClient()
    return _clients["chroma"]


def _FRAME_SETTINGS():
    # durable=False skips the fsyncs (crash safety is tested in tests/storage); it is ~40% faster
    return chroma_frame.Settings(durable=False)


def _frame_path() -> str:
    if "path" not in _clients:
        _clients["path"] = tempfile.mkdtemp(prefix="cf-differential-")
        atexit.register(shutil.rmtree, _clients["path"], True)
    return _clients["path"]


@pytest.fixture(autouse=True)
def _s3(request):
    """The S3 server the S3 variant of the machine runs on (moto, on loopback)."""
    if "CollectionS3" in request.node.nodeid:
        endpoint = request.getfixturevalue("s3_endpoint")
        _clients["s3"] = {"url": endpoint.url(f"differential-{uuid.uuid4().hex[:8]}"),
                          "settings": {"s3_endpoint_url": endpoint.endpoint_url, "s3_access_key_id": "testing",
                                       "s3_secret_access_key": "testing",
                                       "s3_cache_dir": request.getfixturevalue("s3_cache_dir")}}
    yield


def _copy(kwargs: dict) -> dict:
    """A deep copy, so that neither library can see what the other did to its arguments."""
    def cp(v):
        if isinstance(v, np.ndarray):
            return v.copy()
        if isinstance(v, dict):
            return {k: cp(x) for k, x in v.items()}
        if isinstance(v, list):
            return [cp(x) for x in v]
        return v
    return {k: cp(v) for k, v in kwargs.items()}


class DifferentialCollection(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.name = f"sm-{uuid.uuid4().hex[:8]}-{next(_names)}"
        self.chroma_col = None
        self.frame_col = None
        self.frame_client = None
        self.dimension_fixed = False

    @initialize(space=st.sampled_from(["l2", "cosine", "ip"]), seed=st.one_of(st.none(), seed_kwargs(), seed_kwargs(), seed_kwargs()))
    def create(self, space: str, seed) -> None:
        """Create the collection on both sides, and most of the time add a first batch."""
        config = {"hnsw": {"space": space}}
        self.chroma_col = _chroma().create_collection(self.name, configuration=config, embedding_function=None)
        self.frame_client = self._open()
        self.frame_col = self.frame_client.create_collection(self.name, configuration=config, embedding_function=None)
        if seed is not None:
            self.write("add", seed)

    def teardown(self) -> None:
        if self.chroma_col is not None:
            # chromadb 1.5.9 leaves list-valued metadata of a dropped collection behind, and a later
            # collection's records that reuse the same internal row ids inherit it: empty it first
            ids = self.chroma_col.get(include=[])["ids"]
            if ids:
                self.chroma_col.delete(ids=ids)
            run(_chroma().delete_collection, self.name)
        if self.frame_client is not None:
            run(self.frame_client.delete_collection, self.name)

    def _open(self):
        return chroma_frame.PersistentClient(path=_frame_path(), settings=_FRAME_SETTINGS())

    # -- plumbing ---------------------------------------------------------------------------
    def both(self, method: str, kwargs: dict, label: str = "") -> tuple[Outcome, Outcome, bool]:
        what = f"{label or method}({kwargs!r})"
        expected = run(getattr(self.chroma_col, method), **_copy(kwargs))
        actual = run(getattr(self.frame_col, method), **_copy(kwargs))
        note(f"{what}: chromadb {expected.describe()[:300]}")
        return expected, actual, check_outcomes(expected, actual, what)

    def write(self, op: str, kwargs: dict) -> None:
        _expected, actual, ok = self.both(op, kwargs)
        if ok:
            assert actual.value is None, f"{op} returned {actual.value!r}"
            if op in ("add", "upsert"):
                self.dimension_fixed = True

    # -- writes -----------------------------------------------------------------------------
    @rule(kwargs=write_kwargs("add"))
    def add(self, kwargs: dict) -> None:
        self.write("add", kwargs)

    @rule(kwargs=write_kwargs("upsert"))
    def upsert(self, kwargs: dict) -> None:
        self.write("upsert", kwargs)

    @rule(kwargs=write_kwargs("update"))
    def update(self, kwargs: dict) -> None:
        self.write("update", kwargs)

    @rule(kwargs=delete_kwargs())
    def delete(self, kwargs: dict) -> None:
        expected, actual, ok = self.both("delete", kwargs)
        if ok:
            assert_same_typed(expected.value, actual.value, f"delete({kwargs!r})")

    # -- reads ------------------------------------------------------------------------------
    @rule(kwargs=get_kwargs())
    def get(self, kwargs: dict) -> None:
        expected, actual, ok = self.both("get", kwargs)
        if ok:
            assert_same_get(expected.value, actual.value, f"get({kwargs!r})")

    @rule(kwargs=query_kwargs())
    def query(self, kwargs: dict) -> None:
        # ids naming a missing record: both raise InternalError("... Error finding id") unless a filter is given
        expected, actual, ok = self.both("query", kwargs)
        if ok:
            full_kwargs = dict(_copy(kwargs), n_results=100,
                               include=["documents", "metadatas", "embeddings", "distances"])
            full = self.chroma_col.query(**full_kwargs)
            assert_same_query(expected.value, actual.value, full, kwargs["n_results"], f"query({kwargs!r})")

    @rule()
    def count(self) -> None:
        expected, actual, ok = self.both("count", {})
        if ok:
            assert_same_typed(expected.value, actual.value, "count()")

    @rule(limit=st.one_of(st.none(), st.integers(1, 15)))
    def peek(self, limit) -> None:
        kwargs = {} if limit is None else {"limit": limit}
        expected, actual, ok = self.both("peek", kwargs)
        if ok:
            assert_same_get(expected.value, actual.value, f"peek({kwargs!r})")

    # -- invalid inputs ---------------------------------------------------------------------
    @rule(call=st.sampled_from(INVALID_CALLS))
    def invalid(self, call) -> None:
        label, method, kwargs = call
        self.both(method, kwargs, label)

    @precondition(lambda self: self.dimension_fixed)
    @rule(call=st.sampled_from(WRONG_DIMENSION_CALLS))
    def wrong_dimension(self, call) -> None:
        label, method, kwargs = call
        self.both(method, kwargs, label)

    # -- chroma_frame only: maintenance must not change any answer ---------------------------
    @rule()
    def compact(self) -> None:
        self.frame_col.compact()

    @rule()
    def reopen(self) -> None:
        """Drop chroma_frame's in-process caches and read the collection back from disk."""
        chroma_frame.Client.clear_system_cache()
        self.frame_client = self._open()
        self.frame_col = self.frame_client.get_collection(self.name, embedding_function=None)

    # -- after every step --------------------------------------------------------------------
    @invariant()
    def same_contents(self) -> None:
        if self.chroma_col is None:
            return
        include = ["documents", "metadatas", "embeddings", "uris"]
        expected = self.chroma_col.get(include=include)
        actual = self.frame_col.get(include=include)
        assert_same_get(expected, actual, "full contents (get with every field)")
        assert self.frame_col.count() == self.chroma_col.count() == len(expected["ids"])


# Shrinking a failing run of this machine often takes hypothesis's full five-minute budget, so it is
# off by default: the failing step's message already shows the call and both answers. Set
# CF_DIFFERENTIAL_SHRINK=1 to get a minimal sequence of steps.
_SHRINK = os.environ.get("CF_DIFFERENTIAL_SHRINK", "") not in ("", "0")

DifferentialCollection.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=25,
    deadline=None,
    report_multiple_bugs=False,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target] + ([Phase.shrink] if _SHRINK else []),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
TestDifferentialCollection = DifferentialCollection.TestCase


class DifferentialCollectionS3(DifferentialCollection):
    """The same machine with chroma-frame's collection on S3 (moto): the same answers."""

    def _open(self):
        s3 = _clients["s3"]
        return chroma_frame.PersistentClient(path=s3["url"], settings=chroma_frame.Settings(**s3["settings"]))


DifferentialCollectionS3.TestCase.settings = settings(DifferentialCollection.TestCase.settings, max_examples=20)
TestDifferentialCollectionS3 = DifferentialCollectionS3.TestCase
