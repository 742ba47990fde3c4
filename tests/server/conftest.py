"""Real ``python -m chroma_frame run`` processes on free loopback ports, driven over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    path: Path
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: Optional[subprocess.Popen] = None
    log: Optional[Path] = None
    storage: Optional[str] = None  # serve this storage root (an s3:// URL) instead of ``path``

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "Server":
        self.port = free_port()
        self.log = self.path.parent / f"server-{self.port}.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT), **self.env}
        cmd = [sys.executable, "-m", "chroma_frame", "run", "--path", self.storage or str(self.path), "--host", "127.0.0.1",
               "--port", str(self.port), *self.args]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def logs(self) -> str:
        return self.log.read_text() if self.log else ""


@pytest.fixture(scope="module")
def server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """``server_factory(*args, env=..., path=...)`` starts a server, stopped when the module ends."""
    started: list[Server] = []

    def make(*args: str, env: Optional[dict[str, str]] = None, path: Optional[Path] = None) -> Server:
        path = path or tmp_path_factory.mktemp("srv") / "data"
        server = Server(path, list(args), env or {}).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def server(server_factory) -> Server:
    """One server for the module, with reset allowed."""
    return server_factory("--allow-reset")


def chroma_client(server: Server, **kwargs):
    """The official ``chromadb.HttpClient`` for ``server`` (fresh: chromadb caches one per host:port)."""
    import chromadb
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    return chromadb.HttpClient(host="127.0.0.1", port=server.port, **kwargs)
