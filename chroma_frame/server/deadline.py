"""Per-request deadline of the read endpoints (``ServerConfig.request_timeout``)."""

from __future__ import annotations

from typing import Any, Callable

import anyio
import anyio.to_thread
from starlette.concurrency import run_in_threadpool

from chroma_frame.server.config import REQUEST_TIMEOUT_ENV
from chroma_frame.server.errors import HTTPError


async def within_deadline(work: Callable[[], Any], deadline: float) -> Any:
    """``work()`` in the thread pool; past ``deadline`` seconds (0: none), a 504 ``InternalError``.

    A thread cannot be killed: it runs on, but its DuckDB statement is interrupted by the
    engine's own deadline (the server sets it to the same value), so a runaway filter stops.
    """
    if not deadline:
        return await run_in_threadpool(work)
    with anyio.move_on_after(deadline):
        return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
    raise deadline_error(deadline)


def deadline_error(deadline: float) -> HTTPError:
    return HTTPError(504, "InternalError",
                     f"The request ran longer than the server's {deadline:g} s deadline ({REQUEST_TIMEOUT_ENV})")
