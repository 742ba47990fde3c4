"""Fixtures: a Chroma 1.x directory made by chromadb 1.5.9 (in a subprocess), and helpers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def make_chroma_dir(path: str) -> str:
    """Run make_source.py in its own process (chromadb's files closed when it exits)."""
    done = subprocess.run([sys.executable, os.path.join(HERE, "make_source.py"), path], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": ROOT})
    assert done.returncode == 0, done.stderr[-3000:]
    return path


def snapshot(path: str) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``path`` with its size and mtime (ns)."""
    found = {}
    for folder, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(folder, name)
            st = os.stat(full)
            found[os.path.relpath(full, path)] = (st.st_size, st.st_mtime_ns)
    found["."] = (0, os.stat(path).st_mtime_ns)
    return found


@pytest.fixture(scope="session")
def chroma_source(tmp_path_factory) -> str:
    """A pristine Chroma directory (never opened by chromadb after it was made; never written)."""
    return make_chroma_dir(str(tmp_path_factory.mktemp("chroma-src") / "chroma"))


@pytest.fixture(scope="session")
def chroma_reference(chroma_source, tmp_path_factory):
    """chromadb's own PersistentClient factory over a copy of the source (chromadb writes when it opens)."""
    import chromadb
    from chromadb.api.client import SharedSystemClient

    copy = str(tmp_path_factory.mktemp("chroma-ref") / "chroma")
    shutil.copytree(chroma_source, copy)

    def open_client(tenant: str = "default_tenant", database: str = "default_database"):
        return chromadb.PersistentClient(copy, tenant=tenant, database=database)

    yield open_client
    SharedSystemClient.clear_system_cache()
