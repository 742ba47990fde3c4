"""A loopback HTTP server with canned JSON answers per path that records every request."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Union

# an answer: a JSON body (status 200), (status, body), or a function of the request giving either
Answer = Union[Any, tuple, Callable[[dict], Any]]


class FakeHTTP:
    """``with FakeHTTP({"/v1/embed": {...}}) as fake``: ``fake.url``, ``fake.requests`` (method, path,
    query string, lower-cased headers, parsed JSON body). Unknown paths answer 404."""

    def __init__(self, routes: dict[str, Answer] | None = None) -> None:
        self.routes: dict[str, Answer] = dict(routes or {})
        self.requests: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length", 0) or 0)
                raw = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                request = {"method": self.command, "path": path, "query": query,
                           "headers": {k.lower(): v for k, v in self.headers.items()},
                           "body": json.loads(raw) if raw else None}
                owner.requests.append(request)
                answer = owner.routes.get(path)
                if answer is None:
                    return self._send(404, {"error": f"no route {path}"})
                if callable(answer):
                    answer = answer(request)
                status, payload = answer if isinstance(answer, tuple) else (200, answer)
                self._send(status, payload)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def _send(self, status: int, payload: Any) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def last(self) -> dict[str, Any]:
        return self.requests[-1]

    def __enter__(self) -> "FakeHTTP":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
