"""Hostile input: a clear Chroma error or the right answer, fast; nothing written on refusal; the
server answers the next request. Chroma 1.5.9 runs side by side as the reference where it has one."""

from __future__ import annotations

import math
import os
import time

import httpx
import pytest

import chroma_frame
from chroma_frame.errors import InvalidArgumentError
from tests.server.conftest import Server, chroma_client

chromadb = pytest.importorskip("chromadb")

BIG = "x" * 100_000
NAMES = ["../x", "a/b", "a\\b", "ab\x00c", "a" * 100_000]


def outcome(fn):
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - compared across implementations
        return type(exc).__name__


@pytest.fixture(scope="module")
def clients(tmp_path_factory):
    """(ours, chroma's) persistent clients and their roots."""
    ours_root = tmp_path_factory.mktemp("ours") / "data"
    theirs_root = tmp_path_factory.mktemp("chroma") / "data"
    return (chroma_frame.PersistentClient(str(ours_root)), chromadb.PersistentClient(str(theirs_root)), ours_root)


def both(clients, name: str):
    ours, theirs, _ = clients
    return (ours.get_or_create_collection(name, embedding_function=None),
            theirs.get_or_create_collection(name, embedding_function=None))


# -- names --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES, ids=["dotdot", "slash", "backslash", "nul", "100k"])
def test_hostile_names(clients, name):
    """Collection names are refused like Chroma; tenant and database names are accepted like Chroma,
    and never become paths: the root holds nothing new but the catalog's own files."""
    ours, theirs, root = clients
    before = sorted(os.listdir(root.parent))
    assert outcome(lambda: ours.create_collection(name)) == outcome(lambda: theirs.create_collection(name))
    assert outcome(lambda: ours.create_collection(name)) == "InvalidArgumentError"
    admin = chroma_frame.AdminClient(chroma_frame.Settings(is_persistent=True, persist_directory=str(root)))
    their_admin = chromadb.AdminClient(theirs.get_settings())
    for create in ("create_tenant", "create_database"):
        assert outcome(lambda: getattr(admin, create)(name)) == outcome(lambda: getattr(their_admin, create)(name))
    assert admin.get_tenant(name)["name"] == name
    assert sorted(os.listdir(root.parent)) == before
    assert set(os.listdir(root)) <= {"catalog", "catalog.json", "catalog.lock", "collections"}


# -- records --------------------------------------------------------------------------------


def test_nul_bytes_and_huge_strings_round_trip(clients):
    pair = both(clients, "hostile-records")
    for col in pair:
        col.add(ids=["a\x00b", BIG, "plain"], embeddings=[[1.0, 2.0], [2.0, 3.0], [3.0, 4.0]],
                documents=["d\x00oc", BIG, "doc"], metadatas=[{"k\x00ey": "v\x00al"}, {BIG: BIG}, {"k": "v"}])
    for call in (
        lambda c: c.get(ids=["a\x00b", BIG], include=["documents", "metadatas"]),
        lambda c: c.get(ids=["a"]),  # a prefix of the NUL id is another id
        lambda c: c.get(where={"k\x00ey": "v\x00al"}),
        lambda c: c.get(where={"k": "v"}),
        lambda c: c.get(where={BIG: BIG}),
        lambda c: c.get(where_document={"$contains": "d\x00o"}),
    ):
        ours, theirs = (outcome(lambda c=c: dict(call(c))) for c in pair)
        for key in ("ids", "documents", "metadatas"):
            assert ours[key] == theirs[key]
    # Chroma: InternalError "LIKE or GLOB pattern too complex" (SQLite's 50 kB limit); ours answers
    assert pair[0].get(where_document={"$contains": BIG})["ids"] == [BIG]


@pytest.mark.parametrize("pattern", ["(a+)+$", "^(a|aa)+$", "(a*)*c", "(x+x+)+y", "(a|a?)+b"])
@pytest.mark.parametrize("negate", [False, True])
def test_catastrophic_regexes_run_in_linear_time(clients, pattern, negate):
    """RE2 (DuckDB) and Rust's regex never backtrack: 100k characters answer at once, like Chroma."""
    pair = both(clients, "hostile-regex")
    if pair[0].count() == 0:
        for col in pair:
            col.add(ids=["a", "x", "none"], embeddings=[[1.0, 2.0]] * 3, documents=["a" * 100_000 + "b", BIG, None])
    where_document = {"$not_regex" if negate else "$regex": pattern}
    start = time.perf_counter()
    ours = sorted(pair[0].get(where_document=where_document)["ids"])
    assert time.perf_counter() - start < 1.0
    assert ours == sorted(pair[1].get(where_document=where_document)["ids"])


def test_regex_too_large_is_refused(clients):
    ours, _ = both(clients, "hostile-regex")
    with pytest.raises(InvalidArgumentError, match="Regex syntax errror"):
        ours.get(where_document={"$regex": "(a{1000}){1000}"})


# -- metadata numbers (issue 11, 10b and 10c) -------------------------------------------------


def test_nan_metadata_is_not_stored(clients):
    """Chroma drops a NaN metadata value (the key vanishes), so ``$gt 0`` never matches it."""
    pair = both(clients, "hostile-nan")
    for col in pair:
        col.add(ids=["nan", "one", "only", "neg"], embeddings=[[1.0, 2.0]] * 4,
                metadatas=[{"x": float("nan"), "k": 1}, {"x": 1.0}, {"x": float("nan")}, {"x": -1.0}])
        col.update(ids=["one"], metadatas=[{"y": float("nan")}])
    ours, theirs = (c.get(include=["metadatas"]) for c in pair)
    assert ours["metadatas"] == theirs["metadatas"] == [{"k": 1}, {"x": 1.0}, None, {"x": -1.0}]
    for where in ({"x": {"$gt": 0}}, {"x": {"$lt": 0}}, {"x": {"$ne": 1.0}}, {"x": {"$gte": -1e308}}):
        assert pair[0].get(where=where)["ids"] == pair[1].get(where=where)["ids"]
    assert pair[0].get(where={"x": {"$gt": 0}})["ids"] == ["one"]


def test_infinities_are_kept(clients):
    """Our one difference: Chroma silently drops an infinite value too (and an infinity in a list
    makes its log unreadable); we keep it, and it compares as IEEE says."""
    ours, _ = both(clients, "hostile-inf")
    ours.add(ids=["p", "m"], embeddings=[[1.0, 2.0]] * 2, metadatas=[{"x": math.inf}, {"x": [-math.inf, 1.0]}])
    assert ours.get()["metadatas"] == [{"x": math.inf}, {"x": [-math.inf, 1.0]}]
    assert ours.get(where={"x": {"$gt": 1e308}})["ids"] == ["p"]
    with pytest.raises(InvalidArgumentError, match="Invalid where clause"):  # as Chroma: no JSON for inf
        ours.get(where={"x": {"$contains": -math.inf}})


def test_nan_update_removes_the_key(clients):
    pair = both(clients, "hostile-nan-update")
    for col in pair:
        col.add(ids=["r"], embeddings=[[1.0, 2.0]], metadatas=[{"x": 1.0, "k": 1}])
        col.update(ids=["r"], metadatas=[{"x": float("nan")}])
    assert pair[0].get()["metadatas"] == pair[1].get()["metadatas"] == [{"k": 1}]


def test_nan_in_a_list_is_refused_and_nothing_is_written(clients):
    ours, _ = both(clients, "hostile-nan-list")
    with pytest.raises(InvalidArgumentError, match="key 'l' holds NaN, which cannot be stored"):
        ours.add(ids=["l"], embeddings=[[1.0, 2.0]], metadatas=[{"l": [1.0, float("nan")]}])
    assert ours.count() == 0


def test_ints_beyond_int64_are_stored_as_floats(clients):
    """Chroma stores ``2**70`` as a float (ours was an OverflowError), lists become float lists."""
    pair = both(clients, "hostile-bigint")
    metadatas = [{"b": 2**70}, {"b": -(2**70)}, {"b": 2**63}, {"b": -(2**63)}, {"l": [2**70, 1]}]
    for col in pair:
        col.add(ids=[str(i) for i in range(5)], embeddings=[[1.0, 2.0]] * 5, metadatas=metadatas)
    ours, theirs = (c.get(include=["metadatas"])["metadatas"] for c in pair)
    for mine, reference in zip(ours, theirs):  # serde_json may round the 22-digit number 1 ulp apart
        assert mine.keys() == reference.keys()
        for key in mine:
            a, b = (v if isinstance(v, list) else [v] for v in (mine[key], reference[key]))
            assert [type(x) for x in a] == [type(x) for x in b]
            assert all(math.isclose(x, y, rel_tol=1e-15) for x, y in zip(a, b))
    for where in ({"b": {"$gt": 0}}, {"b": {"$lt": 0}}, {"l": {"$contains": 1}}, {"l": {"$contains": 1.0}}):
        assert pair[0].get(where=where)["ids"] == pair[1].get(where=where)["ids"]


@pytest.mark.parametrize("op", ["add", "upsert"])
def test_ints_beyond_float_are_refused_like_chroma(clients, op):
    pair = both(clients, f"hostile-huge-{op}")
    for metadata in ({"b": 10**400}, {"l": [1, 10**400]}):
        results = []
        for col in pair:
            try:
                getattr(col, op)(ids=["h"], embeddings=[[1.0, 2.0]], metadatas=[metadata])
                results.append(None)
            except TypeError as exc:
                results.append(str(exc).split(":")[0])
        assert results[0] == results[1] == "argument 'metadatas'"
        assert pair[0].count() == 0


# -- through the HTTP server, with Chroma's official client -----------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("srv") / "data", ["--max-body-bytes", "200000"]).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def remote(server):
    col = chroma_client(server).get_or_create_collection("hostile", embedding_function=None)
    col.add(ids=["a", "b"], embeddings=[[1.0, 2.0], [2.0, 3.0]], metadatas=[{"n": 1}, {"n": 2}])
    return col


def still_up(server, remote) -> None:
    assert httpx.get(f"{server.url}/api/v2/heartbeat", timeout=5).status_code == 200
    assert remote.get(where={"n": 2})["ids"] == ["b"]


def nested(depth: int) -> dict:
    where: dict = {"n": {"$gte": 0}}
    for _ in range(depth):
        where = {"$and": [where, {"n": {"$gte": 0}}]}
    return where


def test_filter_limits_over_http(server, remote):
    assert remote.get(where=nested(62))["ids"] == ["a", "b"]
    for where in (nested(63), nested(120), {"$or": [{"n": i} for i in range(3000)]}):
        start = time.perf_counter()
        with pytest.raises(chromadb.errors.InvalidArgumentError, match="Invalid where clause: "):
            remote.get(where=where)
        assert time.perf_counter() - start < 2.0
    still_up(server, remote)


@pytest.mark.parametrize("how", ["env", "flag"])
def test_request_deadline(tmp_path, how):
    """A read past the server's deadline (0.2 s here) is answered with an error, not awaited."""
    if how == "env":
        server = Server(tmp_path / "data", env={"CHROMA_FRAME_REQUEST_TIMEOUT": "0.2"}).start()
    else:
        server = Server(tmp_path / "data", args=["--request-timeout", "0.2"]).start()
    try:
        base = f"{server.url}/api/v2/tenants/default_tenant/databases/default_database/collections"
        col = httpx.post(base, json={"name": "slow"}, timeout=10).json()["id"]
        added = httpx.post(f"{base}/{col}/add", json={"ids": ["a"], "embeddings": [[1.0, 2.0]],
                                                      "metadatas": [{"n": 1}]}, timeout=10)
        assert added.status_code == 201
        slow = {"where": {"$or": [{f"k{i}": {"$gte": i}} for i in range(1000)]},  # ~1 s of DuckDB planning
                "where_document": {"$or": [{"$regex": f"w{i}+"} for i in range(2000)]}}  # ~1 s of regex checks
        start = time.perf_counter()
        answer = httpx.post(f"{base}/{col}/get", json=slow, timeout=10)
        assert time.perf_counter() - start < 5.0
        assert answer.status_code == 504 and answer.json()["error"] == "InternalError"
        assert "0.2 s deadline (CHROMA_FRAME_REQUEST_TIMEOUT)" in answer.json()["message"]
        assert httpx.get(f"{base}/by-id/{col}", timeout=10).json()["name"] == "slow"  # the next request
    finally:
        server.stop()


def test_oversized_body_writes_nothing(server, remote):
    url = f"{server.url}/api/v2/tenants/default_tenant/databases/default_database/collections/{remote.id}/add"
    body = {"ids": ["big"], "embeddings": [[1.0, 2.0]], "documents": ["x" * 300_000]}
    answer = httpx.post(url, json=body, timeout=10)
    assert answer.status_code == 413 and answer.json()["error"] == "ChromaError"
    assert remote.count() == 2
    still_up(server, remote)


@pytest.mark.parametrize("depth", [1000, 5000])
def test_deeply_nested_bodies(server, remote, depth):
    """JSON nested past orjson's limit is unparsable (400); under it, the filter is refused (400)."""
    url = f"{server.url}/api/v2/tenants/default_tenant/databases/default_database/collections/{remote.id}/get"
    body = '{"where": ' + '{"$and": [' * depth + '{"n": 1}' + ', {"n": 1}]}' * depth + "}"
    start = time.perf_counter()
    answer = httpx.post(url, content=body, headers={"content-type": "application/json"}, timeout=10)
    assert answer.status_code == 400 and answer.json()["error"] == "InvalidArgumentError"
    assert time.perf_counter() - start < 2.0
    still_up(server, remote)


def test_deeply_nested_search_payload(server, remote):
    """The Search API parses its payload recursively: a deep one is refused (400), not a 500."""
    url = f"{server.url}/api/v2/tenants/default_tenant/databases/default_database/collections/{remote.id}/search"
    body = {"searches": [{"filter": nested(300), "limit": {"limit": 5, "offset": 0}}]}
    answer = httpx.post(url, json=body, timeout=10)
    assert answer.status_code == 400 and answer.json()["error"] == "InvalidArgumentError"
    assert "Invalid search payload" in answer.json()["message"]
    still_up(server, remote)


@pytest.mark.parametrize("depth", [400, 3000])
def test_deeply_nested_search_in_the_library(clients, depth):
    """``collection.search`` with a Where expression nested hundreds or thousands deep is refused
    with the server's error, not a RecursionError; a shallow one still runs."""
    from chroma_frame import K, Knn, Search

    col = clients[0].get_or_create_collection("deep-search", embedding_function=None)
    col.upsert(ids=["a", "b"], embeddings=[[1.0, 0.0], [0.0, 1.0]], metadatas=[{"n": 1}, {"n": 2}])

    def where(levels: int):
        clause = K("n") >= 0
        for i in range(levels):
            clause = (clause & (K("n") >= 0)) if i % 2 else (clause | (K("n") >= 0))
        return clause

    shallow = col.search(Search().where(where(20)).rank(Knn(query=[1.0, 0.0])).limit(2))
    assert shallow["ids"] == [["a", "b"]]
    with pytest.raises(InvalidArgumentError, match="Invalid search payload: it is nested more than"):
        col.search(Search().where(where(depth)).rank(Knn(query=[1.0, 0.0])).limit(2))
