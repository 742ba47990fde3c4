"""A wheel carries sql/*.sql (as chroma_frame/sql/) and the installed package loads them from there; it also
carries ``py.typed`` (PEP 561), so type checkers read the package's own annotations."""

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT

SOURCES = ("pyproject.toml", "setup.py", "README.md", "chroma_frame", "sql")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """A wheel built from a copy of the project (the build writes next to its sources)."""
    pytest.importorskip("setuptools")
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        path = os.path.join(ROOT, name)
        if os.path.isdir(path):
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, src / name)
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(out), str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [built] = out.glob("chroma_frame-*.whl")
    return built


def test_wheel_contains_the_sql_files(wheel):
    with zipfile.ZipFile(wheel) as z:
        packaged = {n.rsplit("/", 1)[1]: z.read(n) for n in z.namelist() if n.startswith("chroma_frame/sql/")}
    repo = {n: open(os.path.join(ROOT, "sql", n), "rb").read() for n in os.listdir(os.path.join(ROOT, "sql"))
            if n.endswith(".sql")}
    assert repo and packaged == repo


def test_wheel_marks_the_package_as_typed(wheel):
    with zipfile.ZipFile(wheel) as z:
        assert "chroma_frame/py.typed" in z.namelist()


def test_installed_package_loads_its_own_sql(wheel, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    script = """
import json, duckdb
from chroma_frame.interop.sql import install, sql_files
con = duckdb.connect()
install(con, None)
macros = sorted(r[0] for r in con.execute(
    "SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_name LIKE 'knn%'").fetchall())
print(json.dumps({"files": [str(f) for f in sql_files()], "macros": macros,
                  "collections": con.sql("SELECT count(*) FROM chroma_collections").fetchone()[0]}))
"""
    env = {**os.environ, "PYTHONPATH": str(site)}  # the installed copy only: not the repository
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {os.path.basename(f) for f in out["files"]} == {n for n in os.listdir(os.path.join(ROOT, "sql"))
                                                            if n.endswith(".sql")}
    assert all(f.startswith(str(site / "chroma_frame" / "sql")) for f in out["files"]), out["files"]
    assert out["macros"] == ["knn", "knn_list", "knn_text"] and out["collections"] == 0
