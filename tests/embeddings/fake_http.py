"""A loopback HTTP server with canned JSON answers per path that records every request."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional, Union

# an answer: a JSON body (status 200), (status, body) or (status, body, headers), or a function of the
# request giving one of those
Answer = Union[Any, tuple, Callable[[dict], Any]]


class FakeHTTP:
    """``with FakeHTTP({"/v1/embed": {...}}) as fake``: ``fake.url``, ``fake.requests`` (method, path,
    query string, lower-cased headers, parsed JSON body). Unknown paths answer 404. Subclasses may
    override :meth:`answer`."""

    def __init__(self, routes: Optional[dict[str, Answer]] = None) -> None:
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
                status, payload, headers = owner.answer(request)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, request: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        """``(status, JSON body, headers)`` for ``request``, from the routes."""
        found = self.routes.get(request["path"])
        if found is None:
            return 404, {"error": f"no route {request['path']}"}, {}
        if callable(found):
            found = found(request)
        if not isinstance(found, tuple):
            return 200, found, {}
        return (found[0], found[1], found[2] if len(found) > 2 else {})

    @property
    def last(self) -> dict[str, Any]:
        return self.requests[-1]

    def __enter__(self) -> "FakeHTTP":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
