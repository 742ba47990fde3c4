import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 server on 127.0.0.1 for the whole session (started on first use, stopped at the end)."""
    from tests.storage.s3_server import moto_s3

    with moto_s3() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def s3_cache_dir(tmp_path_factory) -> str:
    """Where clients on S3 keep their local copies in tests (never the user's ~/.cache)."""
    return str(tmp_path_factory.mktemp("s3-cache"))


def open_backend(kind: str, request, folder, **settings):
    """A PersistentClient on a local ``folder`` (kind "local") or on the test S3 server under a
    prefix named after ``folder`` (kind "s3"; the same folder, the same prefix), with ``settings``;
    ``request`` is the asking test's or fixture's request."""
    import hashlib

    import chroma_frame

    if kind == "local":
        return chroma_frame.PersistentClient(path=str(folder), settings=chroma_frame.Settings(**settings))
    endpoint = request.getfixturevalue("s3_endpoint")
    s3 = {"s3_endpoint_url": endpoint.endpoint_url, "s3_access_key_id": "testing", "s3_secret_access_key": "testing",
          "s3_cache_dir": request.getfixturevalue("s3_cache_dir")}
    prefix = hashlib.sha256(str(folder).encode()).hexdigest()[:24]
    return chroma_frame.PersistentClient(path=endpoint.url(prefix),
                                         settings=chroma_frame.Settings(**s3, **settings))


@pytest.fixture(params=["local", "s3"])
def backend_kind(request) -> str:
    """Run the test against a local folder and against S3 (moto)."""
    return request.param


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
