"""Issue 11, defect 5: a lost or damaged catalog, or a manifest that contradicts the files, must
make the library refuse to open (naming the file and the fix) instead of showing empty or
garbled collections, and must never write an empty catalog over existing data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import chroma_frame
from chroma_frame.errors import InternalError
from chroma_frame.storage.integrity import CorruptFileError, json_with_checksum
from tests.layout import manifest_path


def _client(path: Path) -> chroma_frame.Client:
    chroma_frame.Client.clear_system_cache()  # as a new process would open the path
    return chroma_frame.PersistentClient(str(path))


def _populate(path: Path) -> str:
    """A collection with a blockfile (compacted) and a log tail; returns its id."""
    col = _client(path).create_collection("alpha", embedding_function=None, metadata={"topic": "a"})
    col.add(ids=[f"a{i}" for i in range(20)], embeddings=np.arange(80, dtype=np.float32).reshape(20, 4),
            documents=[f"doc {i}" for i in range(20)])
    col.compact()
    col.add(ids=["t1"], embeddings=[[1.0, 2.0, 3.0, 4.0]])
    col.add(ids=["t2"], embeddings=[[4.0, 3.0, 2.0, 1.0]])
    return str(col.id)


def _files(path: Path) -> dict[str, float]:
    return {str(p.relative_to(path)): p.stat().st_mtime_ns for p in path.rglob("*")}


def _newest_catalog(path: Path) -> Path:
    """The file of the current catalog version."""
    return sorted((path / "catalog").glob("*.json"))[-1]


def _rewrite_manifest(folder: Path, **changes) -> None:
    """Change fields of a manifest and re-seal it: a consistent checksum over wrong content."""
    doc = json.loads(manifest_path(folder).read_bytes())
    doc.pop("crc32c", None)
    doc.update(changes)
    manifest_path(folder).write_bytes(json_with_checksum(doc))


def test_missing_catalog_refuses_to_open_and_writes_nothing(tmp_path):
    _populate(tmp_path)
    shutil.rmtree(tmp_path / "catalog")
    before = _files(tmp_path)
    with pytest.raises(InternalError) as err:
        _client(tmp_path)
    message = str(err.value)
    assert "catalog.json" in message and "doctor" in message and "--repair" in message and str(tmp_path) in message
    assert _files(tmp_path) == before  # no empty catalog written over the collections
    with pytest.raises(InternalError):  # and again: still refused, never "fixed" by the first attempt
        _client(tmp_path)
    fresh = _client(tmp_path / "new")  # a path without collections still gets its catalog
    assert fresh.list_collections() == [] and _newest_catalog(tmp_path / "new").exists()


def test_damaged_catalog_is_refused_not_misread(tmp_path):
    _populate(tmp_path)
    newest = _newest_catalog(tmp_path)
    raw = newest.read_bytes()
    assert b'"alpha"' in raw
    newest.write_bytes(raw.replace(b'"alpha"', b'"alphb"'))  # still valid JSON
    with pytest.raises(CorruptFileError) as err:
        _client(tmp_path)
    assert str(newest) in str(err.value) and "checksum" in str(err.value)


def test_catalog_format_older_is_read_newer_is_refused(tmp_path):
    _populate(tmp_path)
    doc = json.loads(_newest_catalog(tmp_path).read_bytes())
    doc.pop("crc32c")
    shutil.rmtree(tmp_path / "catalog")  # the single catalog.json of an older version, below
    (tmp_path / "catalog.json").write_text(json.dumps({**doc, "format": 1}))  # as an older version wrote it
    assert _client(tmp_path).get_collection("alpha").count() == 22
    (tmp_path / "catalog.json").write_bytes(json_with_checksum({**doc, "format": 99}))
    with pytest.raises(InternalError, match="newer chroma-frame"):
        _client(tmp_path)


def test_each_collection_folder_describes_itself(tmp_path):
    cid = _populate(tmp_path)
    described = lambda: json.loads((tmp_path / "collections" / cid / "collection.json").read_bytes())  # noqa: E731
    assert "crc32c" in described()
    assert described()["collection"]["name"] == "alpha" and described()["collection"]["metadata"] == {"topic": "a"}
    col = _client(tmp_path).get_collection("alpha")
    col.modify(name="alpha2", metadata={"topic": "b"})
    assert described()["collection"]["name"] == "alpha2" and described()["collection"]["metadata"] == {"topic": "b"}
    assert not described()["deleted"]
    _client(tmp_path).delete_collection("alpha2")
    assert not (tmp_path / "collections" / cid).exists()


def test_manifest_listing_no_blockfiles_is_refused(tmp_path):
    cid = _populate(tmp_path)
    _rewrite_manifest(tmp_path / "collections" / cid, blockfiles=[])
    col = _client(tmp_path).get_collection("alpha")
    with pytest.raises(InternalError) as err:
        col.count()  # before: 2, the 20 compacted records silently gone
    assert "manifests/" in str(err.value) and "no blockfiles" in str(err.value)


def test_manifest_with_a_wrong_log_upto_is_refused(tmp_path):
    cid = _populate(tmp_path)
    folder = tmp_path / "collections" / cid
    upto = json.loads(manifest_path(folder).read_bytes())["log_upto"]
    _rewrite_manifest(folder, log_upto=upto - 1)
    col = _client(tmp_path).get_collection("alpha")
    with pytest.raises(InternalError) as err:
        col.get()
    assert "manifests/" in str(err.value) and "log" in str(err.value)


def test_manifest_with_a_wrong_dimension_is_refused(tmp_path):
    cid = _populate(tmp_path)
    _rewrite_manifest(tmp_path / "collections" / cid, dimension=3)
    col = _client(tmp_path).get_collection("alpha")
    with pytest.raises(InternalError) as err:
        col.query(query_embeddings=[[1.0, 2.0, 3.0]], n_results=3)
    assert "manifests/" in str(err.value) and "dimension" in str(err.value)

