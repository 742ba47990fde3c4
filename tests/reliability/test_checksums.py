"""Checksums: a damaged log entry, blockfile or manifest gives an error naming the file (never wrong
data, never a crash); files of the previous version still read; newer manifests are refused."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import chroma_frame
from chroma_frame.errors import InternalError
from chroma_frame.storage.integrity import CorruptFileError, json_with_checksum
from tests.conftest import run_python
from tests.layout import manifest_path

DIM = 4


def _client(path: Path):
    chroma_frame.Client.clear_system_cache()  # a fresh process's view of the files
    return chroma_frame.PersistentClient(path=str(path))


def _fill(path: Path, name: str = "checked", n: int = 40):
    col = _client(path).create_collection(name, embedding_function=None)
    rng = np.random.default_rng(1)
    col.add(ids=[f"a{i}" for i in range(n)], embeddings=rng.random((n, DIM)).tolist(),
            documents=[f"doc {i}" for i in range(n)], metadatas=[{"i": i, "s": f"v{i}"} for i in range(n)])
    col.compact()
    col.add(ids=["b0", "b1"], embeddings=[[1, 2, 3, 4], [4, 3, 2, 1]], documents=["x", "y"], metadatas=[{"i": -1}, None])
    return col


def _folder(path: Path, col) -> Path:
    return path / "collections" / str(col.id)


def _everything(col) -> dict:
    got = col.get(include=["documents", "metadatas", "embeddings"])
    got["embeddings"] = np.asarray(got["embeddings"]).tolist()
    res = col.query(query_embeddings=[[0.5] * DIM], n_results=5)
    return {"get": {k: got[k] for k in ("ids", "documents", "metadatas", "embeddings")},
            "query": res["ids"], "count": col.count()}


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


def _embedding_offset(data: bytes, value: float) -> int:
    return data.index(np.float32(value).tobytes())


def test_a_flipped_bit_in_a_blockfile_is_an_error_naming_it(tmp_path):
    col = _fill(tmp_path)
    folder = _folder(tmp_path, col)
    (block,) = (folder / "blocks").glob("*.arrow")
    data = block.read_bytes()
    # an embedding value: the old reader returned the changed vector without a word
    first = np.asarray(col.get(ids=["a0"], include=["embeddings"])["embeddings"])[0]
    _flip(block, _embedding_offset(data, first[0]) + 2)
    col = _client(tmp_path).get_collection("checked")
    with pytest.raises(CorruptFileError, match=block.name) as info:
        col.get(ids=["a0"], include=["embeddings"])
    assert isinstance(info.value, InternalError) and "checksum" in str(info.value)


def test_a_flipped_bit_in_a_log_entry_is_an_error_naming_it(tmp_path):
    col = _fill(tmp_path)
    entry = sorted((_folder(tmp_path, col) / "log").glob("*.arrow"))[-1]  # the one not compacted
    _flip(entry, _embedding_offset(entry.read_bytes(), 4.0))
    with pytest.raises(CorruptFileError, match=entry.name):
        _client(tmp_path).get_collection("checked").get(ids=["b1"], include=["embeddings"])


def test_a_log_entry_that_lost_its_seal_is_not_taken_for_an_old_one(tmp_path):
    col = _fill(tmp_path)
    entry = sorted((_folder(tmp_path, col) / "log").glob("*.arrow"))[-1]  # the one not compacted
    entry.write_bytes(entry.read_bytes()[:-16])  # still a complete Arrow stream, without the seal
    with pytest.raises(CorruptFileError, match=f"{entry.name}.*no checksum"):
        _client(tmp_path).get_collection("checked").count()


def test_a_damaged_manifest_is_an_error_naming_it(tmp_path):
    col = _fill(tmp_path)
    manifest = manifest_path(_folder(tmp_path, col))
    manifest.write_bytes(manifest.read_bytes().replace(b'"log_upto": 1', b'"log_upto": 3'))
    with pytest.raises(CorruptFileError, match=f"{manifest.name}.*checksum"):
        _client(tmp_path).get_collection("checked").count()


def test_unknown_manifest_keys_are_ignored_and_a_newer_format_is_refused(tmp_path):
    col = _fill(tmp_path)
    before = _everything(col)
    path = manifest_path(_folder(tmp_path, col))
    document = json.loads(path.read_bytes())
    path.write_bytes(json_with_checksum({**document, "written_by": "chroma-frame 9.9", "stats": {"rows": 42}}))
    col = _client(tmp_path).get_collection("checked")
    assert _everything(col) == before  # the older reader used to fail with a TypeError
    path.write_bytes(json_with_checksum({**document, "format": 4}))
    with pytest.raises(InternalError, match=r"newer chroma-frame \(format 4\); this version reads up to 3"):
        _client(tmp_path).get_collection("checked").count()


# -- files of the previous version (no seals, no checksums, manifest format 1) ---------------------


def _as_previous_version(folder: Path) -> None:
    """Rewrite a collection's files as the previous chroma-frame wrote them (its writers, inlined)."""
    manifest = json.loads(manifest_path(folder).read_bytes())
    for entry in (folder / "log").glob("*.arrow"):  # Log.append: a bare Arrow stream
        table = pa.ipc.open_stream(entry.read_bytes()).read_all()
        with pa.OSFile(str(entry), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    for postings in (folder / "blocks").glob("*.sparse.*.arrow"):  # save_postings: a bare Arrow file
        postings.write_bytes(postings.read_bytes()[:-16])
    old = {"version": manifest["version"], "log_upto": manifest["log_upto"], "dimension": manifest["dimension"],
           "blockfiles": [b["path"] for b in manifest["blockfiles"]], "format": 1}
    (folder / "manifest.json").write_text(json.dumps(old, indent=1))  # Manifest.to_json of then
    shutil.rmtree(folder / "manifests", ignore_errors=True)  # files the previous version did not have
    for name in ("collection.json",):
        if (folder / name).exists():
            os.remove(folder / name)


def test_a_collection_of_the_previous_version_reads_identically_and_upgrades(tmp_path):
    col = _fill(tmp_path)
    col.delete(ids=["a3"])
    before = _everything(col)
    _as_previous_version(_folder(tmp_path, col))
    col = _client(tmp_path).get_collection("checked")
    assert _everything(col) == before
    col.add(ids=["c0"], embeddings=[[0, 0, 0, 1]])  # a new, sealed entry among old ones
    before = _everything(_client(tmp_path).get_collection("checked"))
    assert before["count"] == 42
    col.compact()  # writes format 3: from now on every entry must be sealed
    manifest = json.loads(manifest_path(_folder(tmp_path, col)).read_bytes())
    assert manifest["format"] == 3 and set(manifest["blockfiles"][-1]) == {"path", "rows", "bytes", "crc32c"}
    assert _everything(_client(tmp_path).get_collection("checked")) == before


def test_an_old_blockfile_is_validated_in_full(tmp_path):
    """Without a checksum, Arrow's full validation stands between damage and a crash in ``take``."""
    col = _fill(tmp_path)
    folder = _folder(tmp_path, col)
    _as_previous_version(folder)
    (block,) = (folder / "blocks").glob("*.arrow")
    table = pa.ipc.open_file(str(block)).read_all()
    ids = table.column("id").combine_chunks()
    offsets = np.frombuffer(ids.buffers()[1], dtype=np.int32)[: len(ids) + 1]
    data = bytearray(block.read_bytes())
    where = data.index(offsets[1:6].tobytes())  # the id column's offsets
    data[where + 4 * 3 : where + 4 * 4] = np.int32(1 << 30).tobytes()  # an offset far out of range
    block.write_bytes(bytes(data))
    code = f"""
import chroma_frame
col = chroma_frame.PersistentClient(path={str(tmp_path)!r}).get_collection("checked")
try:
    col.get(ids=["a3"])
except chroma_frame.errors.InternalError as exc:
    print("ERROR", exc)
"""
    out = run_python(code, timeout=60)  # a subprocess: the old reader died here with SIGSEGV
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ERROR damaged file" in out.stdout and block.name in out.stdout


# -- a server keeps serving the other collections ---------------------------------------------------


def test_a_damaged_collection_fails_alone_in_the_server(tmp_path):
    from chromadb.errors import InternalError as ClientInternalError  # HTTP 500

    from tests.server.conftest import Server, chroma_client

    damaged = _fill(tmp_path, "damaged")
    healthy = _fill(tmp_path, "healthy")
    expected = healthy.get()["ids"]
    (block,) = (_folder(tmp_path, damaged) / "blocks").glob("*.arrow")
    _flip(block, block.stat().st_size // 2)
    chroma_frame.Client.clear_system_cache()
    server = Server(tmp_path).start()
    try:
        client = chroma_client(server)
        for _ in range(2):
            with pytest.raises(ClientInternalError, match=block.name):
                client.get_collection("damaged").get()
            with pytest.raises(ClientInternalError, match=block.name):
                client.get_collection("damaged").query(query_embeddings=[[0.1] * DIM], n_results=2)
            assert client.get_collection("healthy").get()["ids"] == expected
            assert client.get_collection("healthy").count() == len(expected)
        assert server.proc.poll() is None
    finally:
        server.stop()
