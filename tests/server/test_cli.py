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


# -- one Parquet format for the CLI and the Python API (issues 12 and 16) -------------------------


def _parquet_source(path: str):
    """A collection with every kind of value: scalars, lists, sparse vectors, documents, uris."""
    import chroma_frame
    from chroma_frame import SparseVector

    client = chroma_frame.PersistentClient(path)
    col = client.create_collection("mixed", metadata={"owner": "cli", "n": 2},
                                   configuration={"hnsw": {"space": "ip", "ef_search": 33}}, embedding_function=None)
    n = 12
    metas = [None if i % 4 == 3 else {"i": i, "f": i / 3, "whole": 2.0, "b": i % 2 == 0, "s": f"ü{i}",
                                      "l": [i, -i], "sp": SparseVector([i, i + 5], [0.5, 1.5])} for i in range(n)]
    col.add(ids=[f"r{i}" for i in range(n)], embeddings=np.random.default_rng(5).standard_normal((n, 4)).astype(np.float32),
            metadatas=metas, documents=[None if i == 2 else f"doc {i}" for i in range(n)],
            uris=[f"file://{i}" if i % 3 else None for i in range(n)])
    return client, col


def _assert_same_records(a_col, b_col, *, collection=True):
    everything = ["embeddings", "metadatas", "documents", "uris"]
    a, b = a_col.get(include=everything), b_col.get(include=everything)
    assert a["ids"] == b["ids"] and a["documents"] == b["documents"] and a["uris"] == b["uris"]
    assert a["metadatas"] == b["metadatas"]
    for ma, mb in zip(a["metadatas"], b["metadatas"]):  # types too: 2.0 stays a float, True a bool
        assert [(k, type(v)) for k, v in sorted((ma or {}).items())] == [(k, type(v)) for k, v in sorted((mb or {}).items())]
    assert np.asarray(a["embeddings"]).tobytes() == np.asarray(b["embeddings"]).tobytes()
    if collection:
        assert a_col.metadata == b_col.metadata
        assert a_col.configuration_json["hnsw"] == b_col.configuration_json["hnsw"]


def test_cli_export_imports_through_the_python_api_and_back(tmp_path):
    import chroma_frame

    client, col = _parquet_source(str(tmp_path / "db"))
    cli_file, api_file = str(tmp_path / "cli.parquet"), str(tmp_path / "api.parquet")
    assert cli("export", "mixed", "--out", cli_file, "--path", str(tmp_path / "db")).returncode == 0
    _assert_same_records(col, client.import_parquet(cli_file, "from-cli", embedding_function=None))

    col.export_parquet(api_file)
    done = cli("import", api_file, "--path", str(tmp_path / "other"))
    assert done.returncode == 0, done.stderr
    _assert_same_records(col, chroma_frame.PersistentClient(str(tmp_path / "other")).get_collection("mixed"))
    import pyarrow.parquet as pq

    assert pq.read_schema(cli_file).equals(pq.read_schema(api_file), check_metadata=False)


def _write_old_cli_file(col, path: str) -> None:
    """A file as ``chroma-frame export`` wrote it before it used export_parquet's format."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    got = col.get(include=["documents", "uris", "metadatas", "embeddings"])
    header = {"name": col.name, "metadata": col.metadata, "configuration_json": col.get_model().get("configuration_json")}
    schema = pa.schema([("id", pa.string()), ("document", pa.string()), ("uri", pa.string()),
                        ("metadata", pa.string()), ("embedding", pa.list_(pa.float32()))],
                       metadata={b"chroma_frame.collection": json.dumps(header, default=str).encode()})
    pq.write_table(pa.table({
        "id": got["ids"], "document": got["documents"], "uri": got["uris"],
        "metadata": [None if m is None else json.dumps(m) for m in got["metadatas"]],
        "embedding": [list(map(float, e)) for e in got["embeddings"]],
    }, schema=schema), path)


def _write_old_export_parquet_file(col, path: str) -> None:
    """A file as ``collection.export_parquet`` wrote it (wide columns, header under ``chroma_frame``)."""
    import pyarrow.parquet as pq

    table = col.to_arrow()
    keys = [c for c in table.column_names if c not in ("id", "document", "uri", "embedding")]
    header = {"format": 1, "name": col.name, "metadata": col.metadata, "configuration": col.configuration_json,
              "dimension": 4, "metadata_layout": "wide", "metadata_columns": keys, "rows": table.num_rows}
    pq.write_table(table.replace_schema_metadata({b"chroma_frame": json.dumps(header).encode()}), path)


@pytest.mark.parametrize("writer", [_write_old_cli_file, _write_old_export_parquet_file])
def test_files_of_both_former_writers_still_import(tmp_path, writer):
    import chroma_frame
    from chroma_frame import SparseVector

    client = chroma_frame.PersistentClient(str(tmp_path / "db"))
    col = client.create_collection("older", metadata={"owner": "old"}, configuration={"hnsw": {"space": "cosine"}},
                                   embedding_function=None)
    metas = [{"i": i, "whole": 2.0, "b": True, "l": ["x", f"y{i}"], "s": "é"} if i % 3 else None for i in range(9)]
    if writer is _write_old_export_parquet_file:  # the old CLI writer could not write sparse vectors (JSON)
        metas[1]["sp"] = SparseVector([1, 4], [0.25, 2.0])
    col.add(ids=[f"o{i}" for i in range(9)], embeddings=np.arange(36, dtype=np.float32).reshape(9, 4) / 7,
            metadatas=metas, documents=[f"d{i}" for i in range(9)], uris=[None] * 8 + ["u"])
    path = str(tmp_path / "old.parquet")
    writer(col, path)
    _assert_same_records(col, client.import_parquet(path, "older-api", embedding_function=None))
    ingested = client.create_collection("older-ingest", embedding_function=None)
    ingested.ingest(path, progress=False)
    _assert_same_records(col, ingested, collection=False)
    done = cli("import", path, "--path", str(tmp_path / "cli"))
    assert done.returncode == 0, done.stderr
    _assert_same_records(col, chroma_frame.PersistentClient(str(tmp_path / "cli")).get_collection("older"))


def test_import_reports_records_written_not_read(tmp_path):
    _, col = _parquet_source(str(tmp_path / "db"))
    path = str(tmp_path / "m.parquet")
    col.export_parquet(path)
    target = str(tmp_path / "target")
    first = cli("import", path, "--path", target)
    assert first.returncode == 0 and first.stdout.startswith("imported 12 new records into mixed")
    again = cli("import", path, "--path", target)
    assert again.returncode == 0
    assert "imported 0 new records" in again.stdout and "(12 read; 12 already present" in again.stdout
    counted = json.loads(cli("--json", "import", path, "--path", target).stdout)
    assert (counted["records"], counted["read"], counted["already_present"]) == (0, 12, 12)
    upserted = json.loads(cli("--json", "import", path, "--path", target, "--upsert").stdout)
    assert (upserted["mode"], upserted["records"], upserted["new"], upserted["updated"]) == ("upsert", 12, 0, 12)


@pytest.mark.parametrize("command", [
    ["collections", "list"], ["db", "list"], ["db", "delete", "analytics"], ["export", "docs", "--out", "x.parquet"],
    ["compact"],
])
def test_read_only_commands_do_not_create_a_storage_root(tmp_path, command):
    missing = tmp_path / "missing"
    out = cli(*command, "--path", str(missing))
    assert out.returncode == 1 and "does not exist" in out.stderr and "Traceback" not in out.stderr
    assert not missing.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    out = cli(*command, "--path", str(empty))
    assert out.returncode == 1 and "not a chroma-frame storage root" in out.stderr
    assert list(empty.iterdir()) == []


def test_import_of_a_missing_file_creates_nothing(tmp_path):
    out = cli("import", str(tmp_path / "absent.parquet"), "--path", str(tmp_path / "db"))
    assert out.returncode == 1 and "does not exist" in out.stderr
    assert not (tmp_path / "db").exists()


def test_empty_listings_say_so(tmp_path):
    import chroma_frame

    chroma_frame.PersistentClient(str(tmp_path / "db"))  # a storage root with no collections
    listed = cli("collections", "list", "--path", str(tmp_path / "db"))
    assert listed.returncode == 0
    assert listed.stdout == "no collections in database default_database of tenant default_tenant\n"
    assert json.loads(cli("--json", "collections", "list", "--path", str(tmp_path / "db")).stdout) == []
