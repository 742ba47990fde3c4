"""The ``chroma-frame`` command line: databases, collections, Parquet export/import, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest

from tests.server.conftest import ROOT


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def cli(*args: str, env: dict | None = None) -> Result:
    """``chroma-frame ARGS`` in this process (argparse exits become return codes)."""
    import contextlib
    import io
    import os
    from unittest import mock

    from chroma_frame.cli import main

    out, err = io.StringIO(), io.StringIO()
    with mock.patch.dict(os.environ, env or {}), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as e:
            code = int(e.code or 0)
    return Result(code, out.getvalue(), err.getvalue())


def test_module_entry_point():
    import os

    done = subprocess.run([sys.executable, "-m", "chroma_frame", "--help"], capture_output=True, text=True,
                          cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == 0 and "chroma-frame" in done.stdout


def test_help_and_usage_errors():
    out = cli("--help")
    assert out.returncode == 0 and "run" in out.stdout and "export" in out.stdout
    assert cli("frobnicate").returncode == 2
    assert cli("db").returncode == 2


def test_db_commands(tmp_path):
    path = str(tmp_path / "db")
    assert cli("db", "create", "analytics", "--path", path).returncode == 0
    listed = cli("--json", "db", "list", "--path", path)
    assert listed.returncode == 0
    assert [d["name"] for d in json.loads(listed.stdout)] == ["analytics", "default_database"]  # by name, as Chroma lists them
    dup = cli("db", "create", "analytics", "--path", path)
    assert dup.returncode == 1 and "already exists" in dup.stderr
    assert cli("db", "delete", "analytics", "--path", path, "--json").returncode == 0
    missing = cli("db", "delete", "analytics", "--path", path, "--json")
    assert missing.returncode == 1 and "not found" in json.loads(missing.stdout)["error"]


def test_collections_export_import_compact_round_trip(tmp_path):
    import chroma_frame

    path = str(tmp_path / "db")
    client = chroma_frame.PersistentClient(path)
    col = client.create_collection("docs", metadata={"owner": "cli"}, configuration={"hnsw": {"space": "cosine"}},
                                   embedding_function=None)
    emb = np.random.default_rng(3).random((30, 5), dtype=np.float32)
    metas = [{"i": i, "f": i / 7, "b": i % 2 == 0, "s": f"x{i}", "l": [i, i * 2], "whole": 2.0} if i % 5 else None
             for i in range(30)]
    col.add(ids=[f"d{i}" for i in range(30)], embeddings=emb, metadatas=metas,
            documents=[None if i == 3 else f"doc {i}" for i in range(30)],
            uris=[f"file://{i}" if i % 3 == 0 else None for i in range(30)])

    listed = json.loads(cli("--json", "collections", "list", "--path", path).stdout)
    assert listed == [{"id": str(col.id), "name": "docs", "count": 30, "metadata": {"owner": "cli"}}]

    out = str(tmp_path / "docs.parquet")
    exported = cli("export", "docs", "--out", out, "--path", path, "--json")
    assert exported.returncode == 0 and json.loads(exported.stdout)["records"] == 30

    other = str(tmp_path / "other")
    assert cli("import", out, "--path", other).returncode == 0
    copy = chroma_frame.PersistentClient(other).get_collection("docs", embedding_function=None)
    assert copy.metadata == {"owner": "cli"} and copy.configuration_json["hnsw"]["space"] == "cosine"
    a = col.get(include=["embeddings", "metadatas", "documents", "uris"])
    b = copy.get(include=["embeddings", "metadatas", "documents", "uris"])
    assert a["ids"] == b["ids"] and a["documents"] == b["documents"] and a["uris"] == b["uris"]
    assert np.array_equal(a["embeddings"], b["embeddings"])
    assert a["metadatas"] == b["metadatas"]
    assert all(type(b["metadatas"][1][k]) is type(v) for k, v in a["metadatas"][1].items())  # 2.0 stays a float

    assert cli("compact", "--path", other, "--json").returncode == 0
    assert chroma_frame.PersistentClient(other).get_collection("docs", embedding_function=None).count() == 30
    again = cli("import", out, "--path", other, "--collection", "docs", "--upsert")
    assert again.returncode == 0


def test_errors_are_one_line_with_exit_code_1(tmp_path):
    missing = cli("export", "nope", "--out", str(tmp_path / "x.parquet"), "--path", str(tmp_path / "db"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    bad_file = cli("import", str(tmp_path / "absent.parquet"), "--path", str(tmp_path / "db"))
    assert bad_file.returncode == 1 and "Traceback" not in bad_file.stderr


def test_models_download_reports_clearly_when_offline(tmp_path):
    out = cli("models", "download", "--dir", str(tmp_path / "models"), env={"CHROMA_FRAME_OFFLINE": "1"})
    assert out.returncode == 1 and "Traceback" not in out.stderr and out.stderr.strip()


def _non_loopback_address() -> str | None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.255", 9))  # no packet is sent: this only picks the outgoing interface
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_run_defaults_to_loopback_with_auth_off(tmp_path):
    import os
    import socket
    import time

    import httpx

    from tests.server.conftest import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "chroma_frame", "run", "--path", str(tmp_path / "db"),
                             "--port", str(port)], cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/v2/tenants/default_tenant/databases/default_database"
                              "/collections_count", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        assert r.status_code == 200 and r.json() == 0  # no credentials needed: auth is off
        other = _non_loopback_address()
        if other is not None:
            with socket.socket() as s, pytest.raises(OSError):
                s.settimeout(2)
                s.connect((other, port))
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert f"on http://127.0.0.1:{port} (auth: off" in err
