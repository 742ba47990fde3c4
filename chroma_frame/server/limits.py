"""Request body size limit (Chroma's ``max_payload_size_bytes``, 40 MiB) as an ASGI middleware."""

from __future__ import annotations

from typing import Any

from chroma_frame.server.codec import dumps


class BodyLimitMiddleware:
    """413 for a body larger than ``max_bytes``, before the app parses it.

    A declared ``Content-Length`` is checked up front (the HTTP server holds the client to it); a
    chunked body is read up to the limit first and then replayed to the app.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None:
            if declared > self.max_bytes:
                await self._reject(send)
                return
            await self.app(scope, receive, send)
            return
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._reject(send)
                return
            if not message.get("more_body", False):
                break

        await self.app(scope, replay(messages, receive), send)

    async def _reject(self, send: Any) -> None:
        body = dumps({"error": "ChromaError",
                      "message": f"Request body is larger than the limit of {self.max_bytes} bytes"})
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def replay(messages: list[dict], receive: Any) -> Any:
    """An ASGI ``receive`` that first hands out ``messages`` (already read), then reads on."""

    async def receive_again() -> dict:
        return messages.pop(0) if messages else await receive()

    return receive_again


def _content_length(scope: dict) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
