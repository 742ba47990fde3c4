"""Token and basic authentication as an ASGI middleware, credentials compared in constant time.

Configured like Chroma's Python server: ``CHROMA_SERVER_AUTHN_PROVIDER`` ("token" / "basic", or
Chroma's provider class paths), ``CHROMA_SERVER_AUTHN_CREDENTIALS`` (tokens, comma separated; or
``user:password`` / htpasswd ``user:bcrypt-hash`` entries) or ``..._CREDENTIALS_FILE`` (one entry
per line, or Chroma's YAML ``users: [{id, tokens: [...]}]``), and
``CHROMA_AUTH_TOKEN_TRANSPORT_HEADER``. A request without credentials gets 401, one with wrong
credentials 403, before its body is read. An empty token or password (``bob:``) refuses to start:
it would let anyone in.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Optional

from chroma_frame.server.codec import dumps
from chroma_frame.server.config import ServerConfig

# Chroma's defaults (chroma_server_auth_ignore_paths), plus health and the API description
PUBLIC_PATHS = {
    "/", "/api/v2", "/api/v2/", "/api/v2/heartbeat", "/api/v2/version", "/api/v2/healthcheck",
    "/openapi.json", "/docs", "/docs/oauth2-redirect",
}
_TOKEN_PROVIDERS = {"token", "chromadb.auth.token_authn.TokenAuthenticationServerProvider"}
_BASIC_PROVIDERS = {"basic", "chromadb.auth.basic_authn.BasicAuthenticationServerProvider"}
_DUMMY = "x" * 32


@dataclass(frozen=True)
class Identity:
    user_id: str


class Authenticator:
    """Checks request headers; returns an identity, ``None`` (missing) or ``False`` (wrong)."""

    scheme = ""  # for the WWW-Authenticate header of a 401

    def check(self, headers: dict[str, str]) -> "Identity | bool | None":
        raise NotImplementedError


class TokenAuthenticator(Authenticator):
    scheme = "Bearer"

    def __init__(self, tokens: dict[str, str], header: Optional[str] = None) -> None:
        if not tokens:
            raise ValueError("token auth needs at least one token (CHROMA_SERVER_AUTHN_CREDENTIALS)")
        self.tokens = tokens  # token -> user id
        self.header = header.lower() if header else None
        if self.header not in (None, "authorization", "x-chroma-token"):
            raise ValueError("CHROMA_AUTH_TOKEN_TRANSPORT_HEADER must be Authorization or X-Chroma-Token")

    def _presented(self, headers: dict[str, str]) -> Optional[str]:
        if self.header in (None, "x-chroma-token") and "x-chroma-token" in headers:
            return headers["x-chroma-token"].strip()
        if self.header in (None, "authorization") and "authorization" in headers:
            scheme, _, value = headers["authorization"].partition(" ")
            return value.strip() if scheme.lower() == "bearer" else ""
        return None

    def check(self, headers: dict[str, str]) -> "Identity | bool | None":
        presented = self._presented(headers)
        if presented is None:
            return None
        user = None
        for token, user_id in self.tokens.items():  # no early exit: same work for every token
            if hmac.compare_digest(presented.encode(), token.encode()):
                user = user_id
        return Identity(user) if user is not None else False


class BasicAuthenticator(Authenticator):
    scheme = "Basic"

    def __init__(self, users: dict[str, str]) -> None:
        if not users:
            raise ValueError("basic auth needs at least one user:password (CHROMA_SERVER_AUTHN_CREDENTIALS)")
        self.users = users  # user -> password or bcrypt hash

    def check(self, headers: dict[str, str]) -> "Identity | bool | None":
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return False
        stored = self.users.get(user)
        ok = _password_matches(password, stored if stored is not None else _DUMMY)
        return Identity(user) if ok and sep and stored is not None else False


def _password_matches(password: str, stored: str) -> bool:
    if stored.startswith(("$2a$", "$2b$", "$2y$")):
        try:
            import bcrypt
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise RuntimeError("bcrypt htpasswd entries need the bcrypt package") from exc
        return bcrypt.checkpw(password.encode(), stored.replace("$2y$", "$2b$", 1).encode())
    return hmac.compare_digest(password.encode(), stored.encode())


def _credential_entries(config: ServerConfig) -> list[Any]:
    if config.auth_credentials_file:
        with open(config.auth_credentials_file, encoding="utf-8") as f:
            text = f.read()
        if text.lstrip().startswith("users:"):
            import yaml

            return [(u.get("id", ""), "" if t is None else str(t))
                    for u in yaml.safe_load(text)["users"] for t in (u.get("tokens") or [])]
        return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if config.auth_credentials:
        return [part.strip() for part in config.auth_credentials.split(",") if part.strip()]
    return []


def build_authenticator(config: ServerConfig) -> Optional[Authenticator]:
    """The authenticator ``config`` asks for, or None when auth is off."""
    provider = config.auth_provider
    if not provider:
        return None
    entries = _credential_entries(config)
    source = _source(config)
    if provider in _TOKEN_PROVIDERS:
        tokens = {e[1] if isinstance(e, tuple) else e: e[0] if isinstance(e, tuple) else "" for e in entries}
        if any(not isinstance(token, str) or not token.strip() for token in tokens):
            raise ValueError(f"empty token in {source}: every token must be non-empty")
        return TokenAuthenticator(tokens, config.token_header)
    if provider in _BASIC_PROVIDERS:
        users: dict[str, str] = {}
        for entry in entries:
            user, sep, password = entry.partition(":") if isinstance(entry, str) else ("", "", "")
            if not sep or not user:
                raise ValueError(f"malformed entry in {source}: expected user:password")
            if not password.strip():
                raise ValueError(f"empty password for user {user!r} in {source}: every user needs a password")
            users[user] = password
        return BasicAuthenticator(users)
    raise ValueError(f"unknown auth provider {provider!r}: use 'token' or 'basic'")


def _source(config: ServerConfig) -> str:
    if config.auth_credentials_file:
        return f"the credentials file {config.auth_credentials_file}"
    return "CHROMA_SERVER_AUTHN_CREDENTIALS / --auth-credentials"


Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]], Awaitable[None]]


class AuthMiddleware:
    """Rejects unauthenticated requests before the app (and so the library) sees them."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        result = self.authenticator.check(headers)
        if result is None:
            await _reject(send, 401, "AuthorizationError", "Unauthorized", self.authenticator.scheme)
            return
        if result is False:
            await _reject(send, 403, "AuthError", "Forbidden")
            return
        scope.setdefault("state", {})["identity"] = result
        await self.app(scope, receive, send)


async def _reject(send: Any, status: int, error: str, message: str, scheme: str = "") -> None:
    body = dumps({"error": error, "message": message})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if scheme:
        headers.append((b"www-authenticate", f'{scheme} realm="chroma-frame"'.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
