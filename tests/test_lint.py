"""Lint and types: ``ruff check`` and ``mypy`` pass with the settings in pyproject.toml.

Both run as subprocesses of this interpreter (``-m ruff``, ``-m mypy``; the ``dev`` extra installs
them). mypy keeps its cache in the temporary directory, one per checkout, so that a second run
only re-checks what changed.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff():
    res = _run("ruff", "check", "--no-cache", "chroma_frame", "tests", "benchmarks")
    assert res.returncode == 0, res.stdout + res.stderr


def test_mypy():
    cache = Path(tempfile.gettempdir()) / f"chroma-frame-mypy-{hashlib.sha1(str(ROOT).encode()).hexdigest()[:12]}"
    res = _run("mypy", "--cache-dir", str(cache))  # the files and settings: pyproject.toml's [tool.mypy]
    assert res.returncode == 0, res.stdout + res.stderr
