"""A Chroma directory is never opened in place: PersistentClient and every CLI command that takes a
path refuse it, write nothing into it, and name the way across."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import chroma_frame
from chroma_frame.storage.chroma_dir import ChromaDirectoryError
from tests.migrate.conftest import ROOT, snapshot

WAY_ACROSS = ("chroma-frame migrate --from", "chroma_frame.migrate(")


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chroma_frame", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": ROOT})


def test_persistent_client_refuses_and_writes_nothing(chroma_source):
    before = snapshot(chroma_source)
    for make in (lambda: chroma_frame.PersistentClient(chroma_source),
                 lambda: chroma_frame.PersistentClient(chroma_source + "/", tenant="acme", database="research"),
                 lambda: chroma_frame.AdminClient(chroma_frame.Settings(is_persistent=True,
                                                                        persist_directory=chroma_source))):
        with pytest.raises(ChromaDirectoryError) as raised:
            make()
        assert isinstance(raised.value, ValueError)
        message = str(raised.value)
        assert chroma_source in message and all(way in message for way in WAY_ACROSS)
    assert snapshot(chroma_source) == before


@pytest.mark.parametrize("command", [
    ["collections", "list"], ["db", "list"], ["db", "create", "other"], ["db", "delete", "default_database"],
    ["compact"], ["index"], ["vacuum"], ["doctor"], ["doctor", "--repair"], ["export", "l2-docs", "--out", "x.parquet"],
    ["run", "--port", "0"],
])
def test_cli_commands_refuse_and_write_nothing(chroma_source, command, tmp_path):
    before = snapshot(chroma_source)
    done = cli(*command, "--path", chroma_source)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "ChromaDirectoryError" in done.stderr and all(way in done.stderr for way in WAY_ACROSS)
    assert snapshot(chroma_source) == before


def test_cli_import_refuses(chroma_source, tmp_path):
    before = snapshot(chroma_source)
    data = tmp_path / "some.parquet"
    data.write_bytes(b"not read")
    done = cli("import", str(data), "--path", chroma_source)
    assert done.returncode == 1 and "chroma-frame migrate --from" in done.stderr
    assert snapshot(chroma_source) == before


def test_migrate_refuses_a_chroma_target_and_itself(chroma_source, tmp_path):
    from chroma_frame.migration import MigrationError, SourceError

    before = snapshot(chroma_source)
    with pytest.raises(MigrationError):
        chroma_frame.migrate(chroma_source, chroma_source, progress=False)
    other = tmp_path / "other-chroma"
    other.mkdir()
    (other / "chroma.sqlite3").write_bytes(b"")
    with pytest.raises(ChromaDirectoryError):  # the target is a Chroma directory too
        chroma_frame.migrate(chroma_source, str(other), progress=False)
    assert sorted(os.listdir(other)) == ["chroma.sqlite3"]
    with pytest.raises(SourceError, match="not a Chroma directory"):
        chroma_frame.migrate(str(tmp_path / "nothing"), str(tmp_path / "out"), progress=False)
    assert not (tmp_path / "out").exists()
    assert snapshot(chroma_source) == before


def test_docs_show_the_message_as_it_is():
    from chroma_frame.storage.chroma_dir import refusal_message

    page = open(os.path.join(ROOT, "docs", "migrate.md"), encoding="utf-8").read()
    shown = page.split("ChromaDirectoryError: ", 1)[1].split("```", 1)[0]
    assert " ".join(shown.split()) == refusal_message("./chroma")
