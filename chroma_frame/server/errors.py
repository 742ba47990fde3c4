"""One mapping from exceptions to Chroma's error bodies ``{"error", "message"}`` and statuses.

Names and statuses follow Chroma's Rust server, so that ``chromadb``'s clients raise the classes
they raise against it: ``InvalidArgumentError`` 400, ``NotFoundError`` 404, "already exists"
409 ``ChromaError``, refused reset 403 ``ChromaError``, unimplemented 501, JSON shape 422.
A 5xx carries a fixed message; the traceback goes to the server log only. Every error response
carries a ``chroma-trace-id`` header, which Chroma's clients expose as ``ChromaError.trace_id``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from chroma_frame import errors as e
from chroma_frame.server.codec import dumps
from chroma_frame.server.tracing import current_trace_id

log = logging.getLogger("chroma_frame.server")

# wire name -> class, as Chroma's clients read it; inverted to name our classes on the wire
_WIRE_NAME = {cls: name for name, cls in e.error_types.items()}
_INTERNAL_MESSAGE = "Internal server error"


class HTTPError(Exception):
    """An error the HTTP layer itself raises (auth, limits, bad paths)."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def error_response(status: int, error: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """The error body, with a ``chroma-trace-id`` header (logged with server errors, to find them)."""
    trace_id = current_trace_id()
    if status >= 500:
        log.warning("%d %s (trace id %s): %s", status, error, trace_id, message)
    return Response(dumps({"error": error, "message": message}), status_code=status,
                    media_type="application/json", headers={**(headers or {}), "chroma-trace-id": trace_id})


def classify(exc: BaseException) -> tuple[int, str, str]:
    """(status, wire error name, message) for any exception a handler lets out."""
    if isinstance(exc, HTTPError):
        return exc.status, exc.error, exc.message
    if isinstance(exc, e.ChromaError):
        return _chroma(exc)
    if isinstance(exc, (ValueError, TypeError, OverflowError)):
        # the library's Python-side validation, which chromadb's client runs before sending
        return 400, "InvalidArgumentError", str(exc)
    if isinstance(exc, NotImplementedError):
        return 501, "ChromaError", str(exc) or "Not implemented"
    return 500, "InternalError", _INTERNAL_MESSAGE


def _chroma(exc: e.ChromaError) -> tuple[int, str, str]:
    message = exc.message() if type(exc).message is not e.ChromaError.message else str(exc)
    if isinstance(exc, e.InternalError):
        if "already exists" in message:
            return 409, "ChromaError", message
        return 500, "InternalError", message
    if isinstance(exc, e.AuthorizationError):
        return 403, "ChromaError", message
    return exc.code(), _WIRE_NAME.get(type(exc), "ChromaError"), message


def _validation_message(exc: RequestValidationError) -> tuple[int, str, str]:
    """422 like Chroma's serde errors; 400 for unparsable JSON, as Chroma does."""
    problems = exc.errors()
    first = problems[0] if problems else {}
    if first.get("type") == "json_invalid":
        detail = first.get("ctx", {}).get("error", "invalid JSON")
        return 400, "InvalidArgumentError", f"Failed to parse the request body as JSON: {detail}"
    in_query = first.get("loc", ("body",))[0] in ("query", "path")
    parts = []
    for p in problems[:5]:
        loc = ".".join(str(x) for x in p.get("loc", ())[1:])
        parts.append(f"{loc}: {p.get('msg')}" if loc else str(p.get("msg")))
    if in_query:  # Chroma answers 400 for a query string it cannot read
        return 400, "InvalidArgumentError", "Failed to deserialize query string: " + "; ".join(parts)
    return 422, "ChromaError", "Failed to deserialize the JSON body into the target type: " + "; ".join(parts)


def as_http_error(exc: BaseException) -> HTTPError:
    """``exc`` as an :class:`HTTPError`; unexpected ones are logged here with their traceback."""
    if isinstance(exc, HTTPError):
        return exc
    status, name, message = classify(exc)
    if message == _INTERNAL_MESSAGE:
        log.error("unexpected error", exc_info=exc)
    return HTTPError(status, name, message)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(HTTPError)
    async def _known(request: Request, exc: HTTPError) -> Response:
        return error_response(exc.status, exc.error, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        content_type = request.headers.get("content-type", "")
        if request.method in ("POST", "PUT", "PATCH") and "json" not in content_type and _has_body_error(exc):
            return error_response(415, "ChromaError", "Expected request with `Content-Type: application/json`")
        return error_response(*_validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        name = "NotFoundError" if exc.status_code == 404 else "ChromaError"
        return error_response(exc.status_code, name, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _any(request: Request, exc: Exception) -> Response:
        return error_response(*classify(as_http_error(exc)))


def _has_body_error(exc: RequestValidationError) -> bool:
    return any(p.get("loc", ("",))[0] == "body" for p in exc.errors())
