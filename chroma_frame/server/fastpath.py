"""The hot read endpoint, ``POST .../collections/{id}/query``, served without the framework.

Under load the web framework's per-request work (middleware layers, route matching, dependency
solving) cost as much CPU as a query over a small collection. This ASGI layer answers
well-formed query requests itself: the same body parsing and model as the route, the same
service call off the event loop, the same JSON. Anything else, and any request that fails
anywhere (malformed JSON, a body the model rejects, an error from the library), goes to the full
application unchanged, which answers it exactly as it would have: a query only reads, so running
it again there is harmless.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from chroma_frame.server.codec import dumps
from chroma_frame.server.deadline import within_deadline
from chroma_frame.server.errors import HTTPError, error_response
from chroma_frame.server.limits import replay
from chroma_frame.server.schemas import QueryRequestPayload

_QUERY = re.compile(r"^/api/v2/tenants/([^/]+)/databases/([^/]+)/collections/([^/]+)/query$")
_HEADERS = [(b"content-type", b"application/json")]


class QueryFastPath:
    """ASGI middleware in front of the FastAPI app (inside auth and the body limit)."""

    def __init__(self, app: Any, service: Any) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        match = _QUERY.match(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if match is None or not _json_content(scope):
            await self.app(scope, receive, send)
            return
        messages, body = await _read(receive)
        if messages is not None:  # the client went away mid-body: the app handles the disconnect
            await self.app(scope, replay(messages, receive), send)
            return
        tenant, database, collection_id = match.groups()
        try:
            answer = await within_deadline(lambda: self._answer(tenant, database, collection_id, body),
                                           self.service.request_timeout)
        except HTTPError as exc:  # past the deadline: answering again in the app would run it again
            await error_response(exc.status, exc.error, exc.message)(scope, receive, send)
            return
        if answer is None:
            await self.app(scope, replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*_HEADERS, (b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})

    def _answer(self, tenant: str, database: str, collection_id: str, body: bytes) -> bytes | None:
        try:
            payload = QueryRequestPayload.model_validate(orjson.loads(body))
            return dumps(self.service.query(tenant, database, collection_id, payload))
        except Exception:  # noqa: BLE001 - bad JSON, a rejected body, a library error: the app answers
            return None


def _json_content(scope: dict) -> bool:
    for key, value in scope["headers"]:
        if key == b"content-type":
            return value.split(b";")[0].strip().lower() == b"application/json"
    return False


async def _read(receive: Any) -> tuple[list[dict] | None, bytes]:
    """The whole body; or, when something other than body chunks arrives, every message so far."""
    chunks, messages = [], []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, b""
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return None, b"".join(chunks)
