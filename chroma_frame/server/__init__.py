"""chroma-frame's HTTP server: Chroma's REST API v2 over the embedded library.

>>> from chroma_frame.server import ServerConfig, create_app, serve
>>> serve(ServerConfig(path="./chroma", port=8000))  # doctest: +SKIP
"""

from __future__ import annotations

from chroma_frame.server.config import ServerConfig


def create_app(config: ServerConfig):  # noqa: ANN201 - ASGI app
    """The ASGI application for ``config`` (imports the web stack lazily)."""
    from chroma_frame.server.app import create_app as _create

    return _create(config)


def serve(config: ServerConfig) -> None:
    """Run the server in the foreground until interrupted (uvicorn)."""
    import uvicorn

    uvicorn.run(create_app(config), host=config.host, port=config.port, log_level=config.log_level,
                timeout_graceful_shutdown=5, server_header=False)


__all__ = ["ServerConfig", "create_app", "serve"]
