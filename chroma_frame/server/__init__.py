"""chroma-frame's HTTP server: Chroma's REST API v2 over the embedded library.

>>> from chroma_frame.server import ServerConfig, create_app, serve
>>> serve(ServerConfig(path="./chroma", port=8000))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from chroma_frame.server.config import ServerConfig


def create_app(config: ServerConfig):  # noqa: ANN201 - ASGI app
    """The ASGI application for ``config`` (imports the web stack lazily)."""
    from chroma_frame.engine.dense_knn import prepare_kernels
    from chroma_frame.server.app import create_app as _create

    _one_blas_thread_per_request()
    prepare_kernels()
    return _create(config)


def _one_blas_thread_per_request() -> None:
    """Concurrent requests are the server's parallelism. A BLAS pool per request on top of them
    oversubscribes the cores (OpenBLAS threads spin while they wait): with 4 clients on 2 cores,
    exact-scan queries ran ~3.5x slower with the default pool than with one thread each."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


_CONFIG_ENV = "CHROMA_FRAME_SERVER_CONFIG"


def app_from_env():  # noqa: ANN201 - ASGI app
    """Factory for uvicorn's worker processes: the config travels as JSON in the environment."""
    import json
    import os

    values = json.loads(os.environ[_CONFIG_ENV])
    values["cors_allow_origins"] = tuple(values.get("cors_allow_origins") or ())
    return create_app(ServerConfig(**values))


def serve(config: ServerConfig) -> None:
    """Run the server in the foreground until interrupted (uvicorn).

    With ``workers > 1`` each worker is a process over the same storage root: reads run in
    parallel, writes to a collection still serialise on its file lock.
    """
    import dataclasses
    import json
    import os

    import uvicorn

    from chroma_frame.server.auth import build_authenticator

    build_authenticator(config)  # refuse bad credentials before any worker starts (ValueError)
    options: dict[str, Any] = dict(host=config.host, port=config.port, log_level=config.log_level,
                   timeout_graceful_shutdown=5, server_header=False)
    if config.workers > 1:
        os.environ[_CONFIG_ENV] = json.dumps(dataclasses.asdict(config))
        uvicorn.run("chroma_frame.server:app_from_env", factory=True, workers=config.workers, **options)
    else:
        uvicorn.run(create_app(config), **options)


__all__ = ["ServerConfig", "create_app", "serve"]
