import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def client(tmp_path):
    import chroma_frame

    return chroma_frame.PersistentClient(path=str(tmp_path / "db"))


def run_python(code: str, *args: str, timeout: float = 120, env: dict | None = None):
    """Run ``code`` in a fresh interpreter (the project on its path); returns CompletedProcess."""
    import subprocess

    full_env = {**os.environ, "PYTHONPATH": ROOT, **(env or {})}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env)
