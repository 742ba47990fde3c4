"""The live rows of a manifest's blockfiles are computed once and remembered next to the manifest
version: later opens read them instead of hashing every id, and a damaged or stale file is
recomputed, never trusted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import chroma_frame
from chroma_frame.engine import snapshot as snapshot_module
from chroma_frame.storage.manifest import read_manifest

DIM = 3


def _client(path: Path):
    chroma_frame.Client.clear_system_cache()
    return chroma_frame.PersistentClient(path=str(path))


def _fill(path: Path):
    """Blockfiles whose rows shadow each other (updates, deletes), then a log tail."""
    col = _client(path).create_collection("live", embedding_function=None)
    rng = np.random.default_rng(2)
    col.add(ids=[f"a{i}" for i in range(60)], embeddings=rng.random((60, DIM)), metadatas=[{"v": 0}] * 60)
    col.compact()
    col.update(ids=[f"a{i}" for i in range(0, 60, 3)], metadatas=[{"v": 1}] * 20)
    col.delete(ids=[f"a{i}" for i in range(1, 60, 7)])
    col.compact()
    col.upsert(ids=["a2", "b0"], embeddings=rng.random((2, DIM)), metadatas=[{"v": 2}, {"v": 2}])
    col.delete(ids=["a4"])
    return col


def _state(col):
    got = col.get(include=["metadatas"])
    return sorted(zip(got["ids"], [m["v"] for m in got["metadatas"]]))


def _live_file(path: Path, col) -> Path:
    folder = path / "collections" / str(col.id)
    version = read_manifest(col._store.storage, col._store.prefix).version
    return folder / "manifests" / f"{version:020d}.live"


@pytest.fixture
def full_resolves(monkeypatch):
    """Calls of resolve_latest over more rows than a log tail holds."""
    calls = []
    real = snapshot_module.resolve_latest

    def counting(ids):
        if len(ids) > 10:
            calls.append(len(ids))
        return real(ids)

    monkeypatch.setattr(snapshot_module, "resolve_latest", counting)
    return calls


def test_the_live_rows_are_remembered_and_give_the_same_answers(tmp_path, full_resolves):
    col = _fill(tmp_path)
    want = _state(col)
    assert len(want) == 60 - 9 - 1 + 1 and ("a0", 1) in want and ("a2", 2) in want and ("b0", 2) in want
    assert _live_file(tmp_path, col).exists()
    full_resolves.clear()
    col = _client(tmp_path).get_collection("live")
    assert _state(col) == want
    assert full_resolves == []  # read, not recomputed


@pytest.mark.parametrize("damage", ["flipped bit", "truncated", "another manifest's"])
def test_a_damaged_or_stale_live_file_is_recomputed(tmp_path, full_resolves, damage):
    col = _fill(tmp_path)
    want = _state(col)
    live = _live_file(tmp_path, col)
    data = bytearray(live.read_bytes())
    if damage == "flipped bit":
        data[40] ^= 0x01  # one row's bit: the seal catches it
    elif damage == "truncated":
        data = data[: len(data) // 2]
    else:  # a well-sealed file describing other blockfiles
        from chroma_frame.engine.live_rows import write_live

        rows = col._store.snapshot().base_rows  # the same length: only the digest tells them apart
        write_live(col._store.storage, col._store.prefix, 999, ["blocks/other.arrow"], np.ones(rows, bool))
        data = bytearray((live.parent / f"{999:020d}.live").read_bytes())
    live.write_bytes(bytes(data))
    full_resolves.clear()
    col = _client(tmp_path).get_collection("live")
    assert _state(col) == want
    assert full_resolves  # recomputed
