"""A blockfile's CRC-32C is read in full once, then remembered while the file is unchanged: a
later open does not read the whole file, and a file changed since is checked (and refused) again."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

import chroma_frame
from chroma_frame.doctor import check
from chroma_frame.storage import blockfile, integrity
from chroma_frame.storage.integrity import VERIFIED_SUFFIX, CorruptFileError

DIM = 4


def _client(path: Path):
    chroma_frame.Client.clear_system_cache()  # a fresh process's view of the files
    return chroma_frame.PersistentClient(path=str(path))


def _fill(path: Path):
    col = _client(path).create_collection("once", embedding_function=None)
    rng = np.random.default_rng(3)
    col.add(ids=[f"a{i}" for i in range(30)], embeddings=rng.random((30, DIM)).astype(np.float32),
            documents=[f"doc {i}" for i in range(30)])
    col.compact()
    (block,) = (path / "collections" / str(col.id) / "blocks").glob("*.arrow")
    return block


@pytest.fixture
def crc_calls(monkeypatch):
    calls = []

    def counting(data):
        calls.append(len(data))
        return integrity.crc32c(data)

    monkeypatch.setattr(blockfile, "crc32c", counting)
    return calls


def test_a_blockfile_checked_once_is_trusted_until_it_changes(tmp_path, monkeypatch, crc_calls):
    monkeypatch.setattr(integrity, "_SETTLED_NS", 0)  # mark files however new (the test's are)
    block = _fill(tmp_path)  # the compaction reads its new blockfile back
    assert crc_calls == [block.stat().st_size]  # read in full once...
    assert Path(str(block) + VERIFIED_SUFFIX).exists()
    crc_calls.clear()
    assert _client(tmp_path).get_collection("once").get(ids=["a1"], include=["documents"])["documents"] == ["doc 1"]
    assert crc_calls == []  # ...and not again while the file is unchanged

    time.sleep(0.05)  # past the timestamp tick of the check
    data = bytearray(block.read_bytes())
    data[data.index(b"doc 17") + 4] ^= 0x01  # "doc 17" -> "doc 07": a wrong answer if served
    block.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match=block.name):
        _client(tmp_path).get_collection("once").get(ids=["a17"], include=["documents"])
    assert crc_calls  # the changed file was read in full again


def test_a_file_changed_a_moment_ago_is_not_marked(tmp_path, crc_calls):
    block = _fill(tmp_path)
    assert _client(tmp_path).get_collection("once").count() == 30
    assert not Path(str(block) + VERIFIED_SUFFIX).exists()  # a change in the same tick could go unseen
    crc_calls.clear()
    assert _client(tmp_path).get_collection("once").count() == 30
    assert crc_calls == [block.stat().st_size]


def test_the_doctor_checks_in_full_even_when_a_check_is_remembered(tmp_path, monkeypatch, crc_calls):
    monkeypatch.setattr(integrity, "_SETTLED_NS", 0)
    block = _fill(tmp_path)
    assert _client(tmp_path).get_collection("once").count() == 30
    assert Path(str(block) + VERIFIED_SUFFIX).exists()
    crc_calls.clear()
    assert check(str(tmp_path)).healthy
    assert block.stat().st_size in crc_calls


def test_a_damaged_marker_only_costs_a_full_check(tmp_path, monkeypatch, crc_calls):
    monkeypatch.setattr(integrity, "_SETTLED_NS", 0)
    block = _fill(tmp_path)
    assert _client(tmp_path).get_collection("once").count() == 30
    marker = Path(str(block) + VERIFIED_SUFFIX)
    marker.write_bytes(marker.read_bytes().replace(b'"ino"', b'"inx"'))
    crc_calls.clear()
    assert _client(tmp_path).get_collection("once").count() == 30
    assert crc_calls == [block.stat().st_size]
