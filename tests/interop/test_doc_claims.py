"""Statements the README, docs and CLI help make about the storage format, checked against files."""

from __future__ import annotations

import glob
import os
import re

import chroma_frame
from tests.conftest import ROOT
from tests.server.test_cli import cli

_TEXTS = ["README.md", "pyproject.toml", *sorted(os.path.relpath(p, ROOT) for p in glob.glob(f"{ROOT}/docs/*.md"))]


def test_blockfiles_are_arrow_ipc_files_as_documented(tmp_path) -> None:
    client = chroma_frame.PersistentClient(str(tmp_path / "db"))
    col = client.create_collection("claims", embedding_function=None)
    col.add(ids=[str(i) for i in range(20)], embeddings=[[float(i), 1.0] for i in range(20)])
    col.compact()
    blocks = glob.glob(str(tmp_path / "db" / "collections" / str(col.id) / "blocks" / "*.arrow"))
    assert blocks
    for block in blocks:
        with open(block, "rb") as f:
            assert f.read(6) == b"ARROW1"  # the Arrow IPC file format's magic, not Parquet's PAR1
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    assert "Arrow IPC\nblockfiles" in readme or "Arrow IPC blockfiles" in readme
    assert "Arrow IPC blockfiles" in cli("compact", "--help").stdout


def test_no_text_calls_blockfiles_parquet() -> None:
    wrong = re.compile(r"parquet\s+blockfiles?", re.I)
    for name in _TEXTS:
        text = open(os.path.join(ROOT, name), encoding="utf-8").read()
        assert not wrong.search(text), f"{name} calls blockfiles Parquet: {wrong.search(text).group(0)!r}"
