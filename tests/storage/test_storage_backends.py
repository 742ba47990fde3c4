"""One contract for every storage backend: a local folder and S3 (moto's server, a real S3 protocol).

Each test gets a fresh storage: a folder under ``tmp_path``, or a unique prefix in the session's
bucket. Callers make folders before writing into them (a no-op on S3), as the library does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid

import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from chroma_frame.errors import StorageIOError, StorageWriteError
from chroma_frame.storage import fs as fs_module
from chroma_frame.storage.fs import S3Storage, Storage, wrap_local_filesystem
from tests.conftest import ROOT, run_python
from tests.reliability.faultfs import FaultHandler


@pytest.fixture
def storage(backend):
    return backend[0]


def _leftovers(storage: Storage, rel_dir: str) -> list[str]:
    return [name for name in storage.list_names(rel_dir) if name.endswith(".tmp")]


def test_write_atomic_round_trip(storage):
    storage.write_atomic("a.json", b'{"x": 1}')
    assert storage.read_bytes("a.json") == b'{"x": 1}'
    storage.write_atomic("a.json", pa.py_buffer(b"replaced"))  # a pa.Buffer, and an overwrite
    assert storage.read_bytes("a.json") == b"replaced"
    storage.write_atomic("empty", b"")
    assert storage.read_bytes("empty") == b""
    assert _leftovers(storage, "") == []


def test_missing_files_raise_file_not_found(storage):
    with pytest.raises(FileNotFoundError):
        storage.read_bytes("nope")
    with pytest.raises(FileNotFoundError):
        storage.open_input("nope")


def test_atomic_output_publishes_on_success(storage):
    with storage.atomic_output("out.bin") as out:
        out.write(b"abc")
        out.write(pa.py_buffer(b"def"))
        assert out.tell() == 6
    assert storage.read_bytes("out.bin") == b"abcdef"


def test_atomic_output_failure_leaves_nothing(storage):
    with pytest.raises(RuntimeError, match="boom"):
        with storage.atomic_output("out.bin") as out:
            out.write(b"partial")
            raise RuntimeError("boom")
    assert not storage.exists("out.bin")
    storage.write_atomic("kept.bin", b"old")
    with pytest.raises(RuntimeError):
        with storage.atomic_output("kept.bin") as out:
            out.write(b"new, unfinished")
            raise RuntimeError("boom")
    assert storage.read_bytes("kept.bin") == b"old"
    assert sorted(storage.list_names("")) == ["kept.bin"]


def test_atomic_output_spills_large_objects_to_disk(storage, monkeypatch):
    monkeypatch.setattr(fs_module, "_SPILL_SIZE", 1 << 16)  # S3: past this the buffer is a temporary file
    chunk = os.urandom(1 << 20)
    with storage.atomic_output("big.bin") as out:
        for _ in range(6):  # 6 MB: a multipart upload on S3 (past obstore's 5 MB chunk)
            out.write(chunk)
    assert storage.read_bytes("big.bin") == chunk * 6


def test_open_input_reads_arrow_ipc_by_random_access(storage):
    table = pa.table({"id": [str(i) for i in range(3000)], "x": pa.array(range(3000), pa.int64())})
    with storage.atomic_output("t.arrow") as out:
        with pa.ipc.new_file(out, table.schema) as writer:
            writer.write_table(table, max_chunksize=1000)
    with storage.open_input("t.arrow") as f:
        reader = pa.ipc.open_file(f)
        assert reader.num_record_batches == 3
        assert reader.get_batch(2).column("x")[0].as_py() == 2000  # a batch read where it lies
        assert reader.read_all().equals(table)


def test_list_names_lists_direct_children_only(storage):
    storage.makedirs("d/sub")
    storage.makedirs("d2")
    for rel in ("d/a", "d/b", "d/sub/c", "d2/x", "dx"):
        storage.write_atomic(rel, b"1")
    assert sorted(storage.list_names("d")) == ["a", "b", "sub"]
    assert sorted(storage.list_names("d/sub")) == ["c"]
    assert sorted(storage.list_names("")) == ["d", "d2", "dx"]
    assert storage.list_names("missing") == []


def test_exists(storage):
    storage.makedirs("d")
    storage.write_atomic("d/f", b"1")
    assert storage.exists("d/f")
    assert storage.exists("d")  # a folder: on S3, keys under it
    assert not storage.exists("d/g")
    assert not storage.exists("missing")
    assert not storage.exists("d/f/deeper")


def test_delete_file(storage):
    storage.write_atomic("f", b"1")
    storage.delete_file("f")
    assert not storage.exists("f")
    storage.delete_file("f")  # missing is fine


def test_delete_dir(storage):
    storage.makedirs("d/sub")
    storage.makedirs("d2")
    for rel in ("d/a", "d/sub/c", "d2/x"):
        storage.write_atomic(rel, b"1")
    storage.delete_dir("d")
    assert not storage.exists("d") and not storage.exists("d/sub/c")
    assert storage.read_bytes("d2/x") == b"1"  # a sibling sharing the name's start is kept
    storage.delete_dir("d")  # missing is fine


def test_put_if_absent_keeps_the_first(storage):
    storage.makedirs("v")
    assert storage.put_if_absent("v/1", b"first") is True
    assert storage.put_if_absent("v/1", b"second") is False
    assert storage.put_if_absent("v/2", pa.py_buffer(b"buffer")) is True
    assert storage.read_bytes("v/1") == b"first"
    assert storage.read_bytes("v/2") == b"buffer"


def test_put_if_absent_race_threads(storage):
    storage.makedirs("race")
    barrier, results = threading.Barrier(8), {}

    def attempt(i: int) -> None:
        barrier.wait()
        results[i] = storage.put_if_absent("race/key", f"writer {i}".encode() * 1000)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, won in results.items() if won]
    assert len(results) == 8 and len(winners) == 1
    assert storage.read_bytes("race/key") == f"writer {winners[0]}".encode() * 1000
    assert storage.list_names("race") == ["key"]  # no temporaries left


_RACER = """
import json, sys
from chroma_frame.storage.fs import Storage
storage = Storage.for_path(sys.argv[1], **json.loads(sys.argv[2]))
print("ready", flush=True)
sys.stdin.readline()
print(json.dumps(storage.put_if_absent("race/key", sys.argv[3].encode())), flush=True)
"""


def test_put_if_absent_race_processes(backend):
    storage, url, settings = backend
    storage.makedirs("race")
    env = {**os.environ, "PYTHONPATH": ROOT}
    racers = [subprocess.Popen([sys.executable, "-c", _RACER, url, json.dumps(settings), f"process {i}"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env) for i in range(2)]
    try:
        for p in racers:  # both ready before either goes
            assert p.stdout.readline().strip() == "ready"
        for p in racers:
            p.stdin.write("go\n")
            p.stdin.flush()
        won = [json.loads(p.stdout.readline()) for p in racers]
    finally:
        for p in racers:
            p.stdin.close()
            p.wait(timeout=60)
    assert sorted(won) == [False, True]
    assert storage.read_bytes("race/key") == f"process {won.index(True)}".encode()


def test_put_if_absent_local_faults(tmp_path):
    handler = FaultHandler()
    with wrap_local_filesystem(str(tmp_path / "db"), lambda local: pafs.PyFileSystem(handler)):
        storage = Storage.for_path(str(tmp_path / "db"))
        handler.inject("fsync", r"v1\.")
        with pytest.raises(StorageWriteError, match="was not committed"):
            storage.put_if_absent("v1", b"x")
        assert storage.list_names("") == []  # neither the file nor its temporary
        handler.inject("dirsync", "")
        with pytest.raises(StorageWriteError, match="may have been committed"):
            storage.put_if_absent("v1", b"x")
        assert storage.put_if_absent("v1", b"y") is False  # it may be there: it is, and it stays


# -- S3 only ------------------------------------------------------------------------------
def test_for_path_picks_the_backend(tmp_path, s3_endpoint):
    local = Storage.for_path(str(tmp_path / "a"))
    assert local.is_local and not isinstance(local, S3Storage) and os.path.isdir(tmp_path / "a")
    assert Storage.for_path(f"file://{tmp_path}/b").root == str(tmp_path / "b")
    s3 = s3_endpoint.storage("some/prefix")
    assert isinstance(s3, S3Storage) and not s3.is_local
    assert s3.root == f"{s3_endpoint.bucket}/some/prefix"
    assert isinstance(s3.fs, pafs.S3FileSystem)
    with pytest.raises(ValueError, match="unsupported storage URL"):
        Storage.for_path("gs://bucket/x")


def test_s3_config_from_environment():
    from chroma_frame.storage.s3 import S3Config

    env = {"AWS_ENDPOINT_URL": "http://generic:1", "AWS_ENDPOINT_URL_S3": "http://s3only:2",
           "AWS_ACCESS_KEY_ID": "key", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token",
           "AWS_DEFAULT_REGION": "eu-west-1"}
    config = S3Config.from_url("s3://bkt/a/b/", environ=env)
    assert (config.bucket, config.prefix, config.endpoint_url, config.region) == ("bkt", "a/b", "http://s3only:2",
                                                                                  "eu-west-1")
    assert (config.access_key_id, config.secret_access_key, config.session_token) == ("key", "secret", "token")
    assert config.allow_http and config.key("x/y") == "a/b/x/y" and config.key("") == "a/b"
    assert "secret" not in repr(config)
    explicit = S3Config.from_url("s3://bkt", environ={**env, "AWS_REGION": "us-west-2"},
                                 endpoint_url="https://explicit", region="ap-south-1")
    assert (explicit.endpoint_url, explicit.region, explicit.allow_http) == ("https://explicit", "ap-south-1", False)
    assert explicit.key("x") == "x"
    bare = S3Config.from_url("s3://bkt/p", environ={})
    assert (bare.endpoint_url, bare.region, bare.access_key_id) == (None, "us-east-1", None)


def test_s3_writes_leave_no_folder_markers(s3_endpoint):
    import obstore

    storage = s3_endpoint.storage()
    storage.makedirs("a/b")
    storage.write_atomic("a/b/c", b"1")
    with storage.atomic_output("a/d") as out:
        out.write(b"2")
    tmp = storage.temp_path("a/e")
    with storage.fs.open_output_stream(tmp) as out:  # a file staged through Arrow, then published
        out.write(b"3")
    storage.publish(tmp, storage.path("a/e"))
    storage.delete_file("a/b/c")
    prefix = storage.objects.config.prefix
    keys = sorted(m["path"] for chunk in obstore.list(storage.objects.store, prefix) for m in chunk)
    assert keys == [f"{prefix}/a/{name}" for name in ("d", "e")]


def test_s3_errors_are_chroma_errors(s3_endpoint):
    storage = Storage.for_path(f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/p", **s3_endpoint.settings)
    with pytest.raises(StorageIOError, match="no such bucket") as read:
        storage.read_bytes("x")
    assert not isinstance(read.value, FileNotFoundError)  # not "a missing file"
    with pytest.raises(StorageWriteError, match="s3://no-such-bucket"):
        storage.write_atomic("x", b"1")
    with pytest.raises(StorageWriteError):
        storage.put_if_absent("x", b"1")


def test_missing_obstore_names_the_extra(monkeypatch):
    monkeypatch.delitem(sys.modules, "chroma_frame.storage.s3", raising=False)
    monkeypatch.setitem(sys.modules, "obstore", None)  # import obstore -> ImportError
    with pytest.raises(ImportError, match=r"pip install 'chroma-frame\[s3\]'"):
        Storage.for_path("s3://bucket/prefix")


def test_importing_chroma_frame_loads_no_s3_client():
    res = run_python("import sys, chroma_frame; print(sorted(m for m in ('obstore', 'boto3', 'botocore') "
                     "if m in sys.modules))")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def test_a_client_on_an_s3_url_works_there_and_writes_nothing_locally(tmp_path, monkeypatch, s3_endpoint):
    """``PersistentClient(path="s3://bucket/x")`` used to create a local folder named ``s3:``; now
    it reads and writes the bucket, with the endpoint and credentials of the AWS environment."""
    import chroma_frame

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    url = s3_endpoint.url(uuid.uuid4().hex)
    settings = chroma_frame.Settings(s3_cache_dir=str(tmp_path.parent / f"{tmp_path.name}-cache"))
    col = chroma_frame.PersistentClient(path=url, settings=settings).create_collection("remote", embedding_function=None)
    col.add(ids=["a", "b"], embeddings=[[1, 0], [0, 1]], documents=["x", "y"])
    chroma_frame.Client.clear_system_cache()
    again = chroma_frame.PersistentClient(path=url + "/", settings=settings).get_collection("remote")
    assert again.get()["documents"] == ["x", "y"]
    assert list(tmp_path.iterdir()) == []
    assert s3_endpoint.storage(url.split("/", 3)[3]).list_names("") == ["catalog", "collections"]


def test_the_doctor_checks_a_store_on_s3(s3_endpoint, s3_cache_dir, monkeypatch):
    """``chroma-frame doctor --path s3://...`` (credentials from the AWS environment) reads what is
    stored, not the local cache, and names a damaged object."""
    import chroma_frame
    from chroma_frame import doctor

    for name, value in (("AWS_ENDPOINT_URL", s3_endpoint.endpoint_url), ("AWS_ACCESS_KEY_ID", "testing"),
                        ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    url = s3_endpoint.url(uuid.uuid4().hex)
    settings = chroma_frame.Settings(s3_endpoint_url=s3_endpoint.endpoint_url, s3_access_key_id="testing",
                                     s3_secret_access_key="testing", s3_cache_dir=s3_cache_dir)
    col = chroma_frame.PersistentClient(path=url, settings=settings).create_collection("checked", embedding_function=None)
    col.add(ids=["a", "b"], embeddings=[[1, 0], [0, 1]])
    col.compact()
    col.add(ids=["c"], embeddings=[[1, 1]])
    healthy = doctor.check(url)
    assert healthy.healthy and healthy.checked["blockfiles"] == 1 and healthy.checked["log entries"] == 2
    storage = s3_endpoint.storage(url.split("/", 3)[3])
    entry = f"collections/{col.id}/log/{2:020d}.arrow"
    data = bytearray(storage.read_bytes(entry))
    data[40] ^= 0xFF
    storage.write_atomic(entry, bytes(data))
    damaged = doctor.check(url)
    assert not damaged.healthy and any(entry in p.path for p in damaged.errors), damaged.problems
