"""A bounded schemathesis run against our /openapi.json: no request may get a 5xx."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

pytest.importorskip("schemathesis")

C = "/api/v2/tenants/default_tenant/databases/default_database/collections"


def test_no_server_errors(server_factory, tmp_path):
    srv = server_factory()  # reset refused
    with httpx.Client(base_url=srv.url) as http:
        cid = http.post(C, json={"name": "fuzz-target"}).json()["id"]
        http.post(f"{C}/{cid}/add", json={"ids": ["a", "b"], "embeddings": [[1, 2], [3, 4]],
                                          "metadatas": [{"k": 1}, {"k": "s"}], "documents": ["x", "y"]})
    config = tmp_path / "schemathesis.toml"
    config.write_text(  # real tenant, database and collection: the fuzzer reaches the library
        '[parameters]\n"path.tenant" = "default_tenant"\n"path.database" = "default_database"\n'
        f'"path.collection_id" = "{cid}"\n'
    )
    exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    out = subprocess.run(
        [exe, "--config-file", str(config), "run", f"{srv.url}/openapi.json", "--checks", "not_a_server_error",
         "--exclude-operation-id", "delete_database", "--max-examples", "20", "--seed", "7", "--workers", "1",
         "--no-color", "--generation-database", "none", "--request-timeout", "20"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    report = out.stdout[-4000:] + out.stderr[-2000:]
    assert out.returncode == 0, report
    assert "Server error" not in out.stdout, report
    assert "Traceback" not in srv.logs(), srv.logs()[-4000:]
