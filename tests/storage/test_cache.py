"""The local cache of immutable S3 files (storage/cache.py), against moto's S3 server.

Requests are counted where they arrive: the server's request log (werkzeug, in this process),
so reads through either client (obstore, Arrow's S3FileSystem) and from other processes count.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import uuid

import numpy as np
import pyarrow as pa
import pytest

from chroma_frame.storage import blockfile as blockfile_module
from chroma_frame.storage.blockfile import read_blockfile, write_blockfile
from chroma_frame.storage.cache import META, cache_key, default_folder
from chroma_frame.storage.fs import S3Storage, Storage
from chroma_frame.storage.records import PUT, build_rows
from tests.conftest import ROOT
from tests.storage.s3_server import ACCESS_KEY, REGION, SECRET_KEY

PREFIX = "collections/c1"
BLOCK = f"{PREFIX}/blocks/b.arrow"


class Requests(logging.Handler):
    """The S3 requests moto's server logs, as ``"GET /bucket/key..."`` lines."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def gets(self, key_part: str) -> int:
        return sum(1 for line in self.lines if '"GET /' in line and key_part in line)


@pytest.fixture
def requests():
    logger = logging.getLogger("werkzeug")
    handler, level = Requests(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.setLevel(level)
        logger.removeHandler(handler)


@pytest.fixture
def place(s3_endpoint, tmp_path):
    """A fresh S3 prefix and a function opening a storage on it with a cache in ``tmp_path``."""
    url = s3_endpoint.url(uuid.uuid4().hex)

    def open_storage(cache: str | bool = str(tmp_path / "cache"), cache_bytes: int | None = None) -> S3Storage:
        storage = Storage.for_path(url, cache_dir=cache, cache_bytes=cache_bytes, **s3_endpoint.settings)
        assert isinstance(storage, S3Storage)
        return storage

    open_storage.url = url
    open_storage.base = str(tmp_path / "cache")
    open_storage.cache = open_storage().cache.folder  # this store's own subfolder of the cache folder
    return open_storage


def _upload(place, rel: str, data: bytes) -> None:
    place(cache=False).write_atomic(rel, data)  # a writer without cache: readers start cold


def _rows(n: int, dim: int = 8) -> pa.Table:
    embeddings = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)
    ids = [f"r{i}" for i in range(n)]
    return build_rows(dimension=dim, seqs=1, rowids=range(n), ops=PUT, ids=ids, documents=ids, embeddings=embeddings)


def test_which_files_are_cached():
    for rel in ["collections/x/blocks/u.arrow", "collections/x/blocks/u.l2.graph.npz", "collections/x/blocks/u.typed.ipc",
                "collections/x/log/00000000000000000001.arrow", "collections/x/manifests/00000000000000000003.json",
                "catalog/00000000000000000002.json"]:
        assert cache_key(rel) == rel, rel
    for rel in ["collections/x/collection.json", "collections/x/manifest.json", "catalog.json",
                "collections/x/versions/00000000000000000001", "collections/x/blocks/u.l2.graph.failed.json",
                "collections/x/blocks/u.arrow.1234.tmp", "collections/x/blocks/u.arrow.verified",
                "trash/x.1/blocks/u.arrow", "collections/x/blocks/sub/u.arrow", "a.json"]:
        assert cache_key(rel) is None, rel
    assert cache_key("collections/fork/../src/blocks/u.arrow") == "collections/src/blocks/u.arrow"  # a fork's reference


def test_a_second_read_of_a_blockfile_does_no_request(place, requests, monkeypatch):
    ref = write_blockfile(place(cache=False), PREFIX, _rows(2000))
    rel = f"{PREFIX}/{ref}"
    first = read_blockfile(place(), PREFIX, ref)
    assert requests.gets(str(ref)) == 1, requests.lines  # one whole GET, not ranged reads
    checks = []
    monkeypatch.setattr(blockfile_module, "crc32c", lambda data: checks.append(1) or 0)
    again = place()  # another process: a new storage on the same cache folder
    assert read_blockfile(again, PREFIX, ref).equals(first)
    assert again.read_bytes(rel)[:6] == b"ARROW1"
    assert requests.gets(str(ref)) == 1
    assert checks == []  # the cache vouched for the bytes it downloaded: no second full CRC-32C


def test_an_upload_is_kept_for_reading_back(place, requests):
    storage = place()
    storage.write_atomic(f"{PREFIX}/log/1.arrow", b"entry one")
    with storage.atomic_output(f"{PREFIX}/log/2.arrow") as out:
        out.write(b"entry two")
    assert storage.put_if_absent(f"{PREFIX}/manifests/1.json", b"{}")
    storage.write_atomic(f"{PREFIX}/log/3.arrow", pa.py_buffer(b"entry three"))
    assert storage.read_bytes(f"{PREFIX}/log/1.arrow") == b"entry one"
    assert storage.open_input(f"{PREFIX}/log/2.arrow").read() == b"entry two"
    assert storage.read_bytes(f"{PREFIX}/manifests/1.json") == b"{}"
    assert storage.read_bytes(f"{PREFIX}/log/3.arrow") == b"entry three"
    assert requests.gets(PREFIX) == 0


def test_the_cache_stays_within_its_bound(place, requests):
    storage = place(cache_bytes=3500)
    names = [f"{PREFIX}/blocks/{i}.arrow" for i in range(6)]
    for i, rel in enumerate(names):
        _upload(place, rel, bytes([i]) * 1000)
    first = storage.open_input(names[0])  # mapped, then evicted below
    for rel in names[1:]:
        assert storage.read_bytes(rel) == bytes([int(rel[-7])]) * 1000
        storage.read_bytes(names[1])  # names[1] is kept busy: the least recently used go first
        assert _cached_bytes(place.cache) <= 3500
    assert first.read() == b"\0" * 1000  # evicted while mapped: still readable
    cached = _cached_names(place.cache)
    assert "1.arrow" in cached and "5.arrow" in cached and "0.arrow" not in cached
    before = requests.gets(PREFIX)
    assert storage.read_bytes(names[0]) == b"\0" * 1000  # evicted: fetched again
    assert requests.gets(PREFIX) == before + 1


def test_an_object_larger_than_the_cache_is_read_without_it(place):
    _upload(place, BLOCK, b"x" * 5000)
    storage = place(cache_bytes=1000)
    assert storage.read_bytes(BLOCK) == b"x" * 5000
    source = storage.open_input(BLOCK)
    assert not isinstance(source, pa.MemoryMappedFile) and source.read() == b"x" * 5000
    assert _cached_names(place.cache) == []


@pytest.mark.parametrize("damage", ["flip", "truncate", "record"])
def test_a_damaged_cached_file_is_fetched_again_never_served(place, requests, damage):
    ref = write_blockfile(place(cache=False), PREFIX, _rows(500))
    rel = f"{PREFIX}/{ref}"
    expected = read_blockfile(place(cache=False), PREFIX, ref)  # not mapped from the file damaged below
    read_blockfile(place(), PREFIX, ref)
    gets = requests.gets(str(ref))
    path = os.path.join(place.cache, *rel.split("/"))
    if damage == "flip":  # same size, one byte changed in place
        with open(path, "r+b") as f:
            f.seek(3000)
            byte = f.read(1)
            f.seek(3000)
            f.write(bytes([byte[0] ^ 0xFF]))
    elif damage == "truncate":
        os.truncate(path, 100)
    else:
        with open(path + META, "wb") as f:
            f.write(b'{"size": 1')
    for storage in (place(), place()):  # a new process, then that one again
        assert read_blockfile(storage, PREFIX, ref).equals(expected)
    assert requests.gets(str(ref)) == gets + 1  # one refetch
    with open(path, "rb") as f:
        assert f.read() == place(cache=False).read_bytes(rel)


def test_a_file_damaged_under_a_running_process_is_fetched_again(place, requests):
    storage = place()
    _upload(place, BLOCK, b"abcdef" * 1000)
    assert storage.read_bytes(BLOCK) == b"abcdef" * 1000
    path = os.path.join(place.cache, *BLOCK.split("/"))
    with open(path, "r+b") as f:
        f.write(b"X")
    assert storage.read_bytes(BLOCK) == b"abcdef" * 1000
    assert requests.gets(BLOCK) == 2


def test_the_cache_folder_may_be_deleted_at_any_time(place, requests, monkeypatch):
    storage = place()
    _upload(place, BLOCK, b"a" * 10000)
    mapped = storage.open_input(BLOCK)
    shutil.rmtree(place.cache)
    assert storage.read_bytes(BLOCK) == b"a" * 10000  # downloaded again
    assert mapped.read() == b"a" * 10000  # what was mapped stays readable
    assert requests.gets(BLOCK) == 2
    assert storage.read_bytes(BLOCK) == b"a" * 10000
    assert requests.gets(BLOCK) == 2

    # deleted in the middle of a download: the download is still served
    other = f"{PREFIX}/blocks/other.arrow"
    _upload(place, other, b"b" * 10000)
    fetch = storage.objects.get_stream

    def fetch_and_delete(key: str):
        size, etag, chunks = fetch(key)

        def deleting():
            for chunk in chunks:
                shutil.rmtree(place.cache, ignore_errors=True)
                yield chunk
        return size, etag, deleting()

    monkeypatch.setattr(storage.objects, "get_stream", fetch_and_delete)
    assert storage.read_bytes(other) == b"b" * 10000
    assert storage.open_input(other).read() == b"b" * 10000
    monkeypatch.undo()
    assert storage.read_bytes(other) == b"b" * 10000
    assert storage.read_bytes(BLOCK) == b"a" * 10000


def test_a_copied_cache_folder_is_checked_then_used(place, requests, tmp_path):
    """A copy has new inodes, so the records' identities do not match: each file is read once and
    its CRC-32C compared, then served (from the start: the check must not move the position)."""
    _upload(place, BLOCK, b"abc" * 1000)
    place().read_bytes(BLOCK)
    copy = str(tmp_path / "copy")
    shutil.copytree(place.base, copy)
    storage = place(cache=copy)
    assert storage.open_input(BLOCK).read() == b"abc" * 1000
    assert storage.open_input(BLOCK).read() == b"abc" * 1000
    assert storage.read_bytes(BLOCK) == b"abc" * 1000
    assert requests.gets(BLOCK) == 1


def test_mutable_files_are_never_cached(place, requests):
    reader, writer = place(), place(cache=False)
    for rel in [f"{PREFIX}/collection.json", "catalog.json", f"{PREFIX}/manifest.json", f"{PREFIX}/versions/1"]:
        writer.write_atomic(rel, b"one")
        assert reader.read_bytes(rel) == b"one"
        writer.write_atomic(rel, b"two")  # rewritten by another process
        assert reader.read_bytes(rel) == b"two"
        assert reader.open_input(rel).read() == b"two"
    assert _cached_names(place.cache) == []


def test_deleting_through_the_storage_drops_the_cached_copies(place):
    storage = place()
    for rel in (BLOCK, f"{PREFIX}/log/1.arrow", "collections/c2/blocks/b.arrow"):
        _upload(place, rel, b"data")
        storage.read_bytes(rel)
    storage.delete_file(BLOCK)
    with pytest.raises(FileNotFoundError):
        storage.read_bytes(BLOCK)
    storage.delete_dir(PREFIX)
    with pytest.raises(FileNotFoundError):
        storage.open_input(f"{PREFIX}/log/1.arrow")
    assert _cached_names(place.cache) == ["b.arrow"]  # collections/c2's


def test_two_processes_share_one_cache(place, requests, s3_endpoint):
    rels = [f"{PREFIX}/blocks/{i}.arrow" for i in range(8)]
    for i, rel in enumerate(rels):
        _upload(place, rel, bytes([i]) * 300_000)
    code = "import sys; from tests.storage.test_cache import read_all; print(read_all(*sys.argv[1:4], sys.argv[4:]))"
    args = [place.url, place.cache, s3_endpoint.endpoint_url, *rels]
    procs = [subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": ROOT}) for _ in range(2)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.split() == ["ok"]
    assert requests.gets(PREFIX) <= 2 * len(rels)  # each downloaded at most once per process
    before = requests.gets(PREFIX)
    assert read_all(place.url, place.cache, s3_endpoint.endpoint_url, rels) == "ok"  # all cached for a third
    assert requests.gets(PREFIX) == before
    assert not [n for n in _all_files(place.cache) if n.endswith(".cf-tmp")]


def read_all(url: str, cache: str, endpoint_url: str, rels: list[str]) -> str:
    """Each file read through the cache twice and checked (the two-process test runs this)."""
    storage = Storage.for_path(url, cache_dir=cache, endpoint_url=endpoint_url, access_key_id=ACCESS_KEY,
                               secret_access_key=SECRET_KEY, region=REGION)
    for _ in range(2):
        for i, rel in enumerate(rels):
            if storage.read_bytes(rel) != bytes([i]) * 300_000:
                return f"wrong bytes for {rel}"
            if storage.open_input(rel).read(10) != bytes([i]) * 10:
                return f"wrong map for {rel}"
    return "ok"


def test_the_default_folder_and_size(monkeypatch, tmp_path, s3_endpoint):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("CHROMA_FRAME_CACHE_BYTES", "12345")
    storage = Storage.for_path(s3_endpoint.url("some/prefix"), **s3_endpoint.settings)
    assert storage.cache.folder == default_folder(s3_endpoint.bucket, f"{s3_endpoint.endpoint_url} some/prefix")
    assert storage.cache.folder.startswith(str(tmp_path / "xdg" / "chroma-frame" / "s3" / s3_endpoint.bucket))
    assert storage.cache.max_bytes == 12345
    monkeypatch.setenv("CHROMA_FRAME_CACHE_BYTES", "0")
    assert Storage.for_path(s3_endpoint.url("p"), **s3_endpoint.settings).cache is None
    assert Storage.for_path(s3_endpoint.url("p"), cache_dir=False, **s3_endpoint.settings).cache is None
    assert Storage.for_path(s3_endpoint.url("p"), cache_bytes=1, **s3_endpoint.settings).cache.max_bytes == 1


def _all_files(folder: str) -> list[str]:
    return [os.path.join(d, n) for d, _, names in os.walk(folder) for n in names]


def _cached_names(folder: str) -> list[str]:
    return sorted(os.path.basename(p) for p in _all_files(folder) if not p.endswith((META, ".cf-tmp")))


def _cached_bytes(folder: str) -> int:
    return sum(os.path.getsize(p) for p in _all_files(folder) if not p.endswith(META))


def test_stores_sharing_a_cache_folder_never_serve_each_others_files(s3_endpoint, tmp_path):
    """Every store has the same paths (``catalog/...``): one cache folder for two prefixes must keep
    them apart (it once served one store's catalog version to the other)."""
    shared = str(tmp_path / "shared-cache")
    one, two = (Storage.for_path(s3_endpoint.url(uuid.uuid4().hex), cache_dir=shared, **s3_endpoint.settings)
                for _ in range(2))
    rel = "catalog/00000000000000000001.json"
    assert one.put_if_absent(rel, b"one") and two.put_if_absent(rel, b"two")
    assert one.read_bytes(rel) == b"one" and two.read_bytes(rel) == b"two"
    assert one.cache.folder != two.cache.folder and one.cache.folder.startswith(shared)
