"""A loopback HTTP server that speaks OpenAI's /v1/embeddings and Ollama's /api/embed."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def fake_vector(text: str, dims: int = 4) -> list[float]:
    """Deterministic vector for ``text`` so tests can check order."""
    return [float(len(text)), float(sum(map(ord, text)) % 97)] + [0.25] * (dims - 2)


class FakeProvider:
    """Start with ``with FakeProvider() as fake``; ``fake.url``; scripted failures via ``fake.fail``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail: list[tuple[int, dict, dict]] = []  # (status, body, headers), consumed in order
        self.delay = 0.0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                owner.requests.append({"path": self.path, "body": body,
                                       "headers": {k.lower(): v for k, v in self.headers.items()}})
                if owner.delay:
                    time.sleep(owner.delay)
                if owner.fail:
                    status, payload, headers = owner.fail.pop(0)
                    return self._send(status, payload, headers)
                if self.path == "/v1/embeddings":
                    inputs = body["input"]
                    data = [{"object": "embedding", "index": i, "embedding": fake_vector(t)}
                            for i, t in enumerate(inputs)]
                    return self._send(200, {"object": "list", "data": data[::-1], "model": body["model"]})
                if self.path == "/api/embed":
                    if body.get("model") == "missing":
                        return self._send(404, {"error": 'model "missing" not found, try pulling it first'})
                    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                    return self._send(200, {"model": body["model"], "embeddings": [fake_vector(t) for t in inputs]})
                self._send(404, {"error": "not found"})

            def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeProvider":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
