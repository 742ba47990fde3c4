"""JSON POST over HTTP for the provider embedding functions: timeouts, retries, clear errors.

Standard library only. Retries connection failures, timeouts, 408/409/429 and 5xx with exponential
backoff plus jitter, honouring ``Retry-After``; other HTTP errors fail at once with the server's
own message.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any, Dict, Mapping, Optional

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_BACKOFF = 8.0
MAX_RETRY_AFTER = 60.0


class EmbeddingRequestError(RuntimeError):
    """An embedding provider could not be reached or refused the request."""

    def __init__(self, message: str, *, url: str, status: Optional[int] = None,
                 body: Optional[str] = None) -> None:
        super().__init__(message)
        self.url, self.status, self.body = url, status, body


def post_json(url: str, payload: Mapping[str, Any], *, headers: Optional[Mapping[str, str]] = None,
              timeout: float = 60.0, max_retries: int = 2, backoff: float = 0.5,
              provider: str = "embedding server", data: Optional[bytes] = None) -> Any:
    """POST ``payload`` as JSON and return the decoded JSON answer. ``data``: the body already
    encoded (a request signed over its exact bytes), sent instead of ``payload``."""
    import urllib.error
    import urllib.request

    if data is None:
        data = json.dumps(payload).encode("utf-8")
    shown = url.split("?")[0]  # messages leave the query out: some APIs take the key there
    all_headers: Dict[str, str] = {"Content-Type": "application/json", "Accept": "application/json",
                                   "User-Agent": "chroma-frame"}
    all_headers.update(headers or {})
    attempt = 0
    while True:
        request = urllib.request.Request(url, data=data, headers=all_headers, method="POST")
        retry_after: Optional[float] = None
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
            try:
                return json.loads(raw)
            except ValueError as e:
                raise EmbeddingRequestError(
                    f"{provider} at {shown} answered with something that is not JSON: {raw[:200]!r}",
                    url=shown, status=200, body=raw.decode("utf-8", "replace")) from e
        except urllib.error.HTTPError as e:
            body = e.read().decode("utf-8", "replace")
            failure = EmbeddingRequestError(
                f"{provider} at {shown} returned HTTP {e.code}: {_server_message(body) or e.reason}",
                url=shown, status=e.code, body=body)
            if e.code not in RETRY_STATUSES:
                raise failure from None
            retry_after = _retry_after(e.headers.get("Retry-After") if e.headers else None)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            reason = getattr(e, "reason", e)
            failure = EmbeddingRequestError(
                f"Could not reach {provider} at {shown}: {reason} "
                f"(timeout {timeout:g}s, {attempt + 1} attempt{'s' if attempt else ''})", url=shown)
        if attempt >= max_retries:
            raise failure
        delay = retry_after if retry_after is not None else min(MAX_BACKOFF, backoff * 2**attempt)
        time.sleep(delay * (1.0 if retry_after is not None else random.uniform(0.5, 1.0)))
        attempt += 1


def _server_message(body: str) -> str:
    """The human part of an error body: OpenAI's ``error.message`` or Ollama's ``error``."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body.strip()[:500]
    if isinstance(parsed, dict):
        err = parsed.get("error", parsed.get("message"))
        if isinstance(err, dict):
            err = err.get("message", err)
        if err is not None:
            return str(err)
    return body.strip()[:500]


def _retry_after(value: Optional[str]) -> Optional[float]:
    try:
        return min(MAX_RETRY_AFTER, max(0.0, float(value))) if value is not None else None
    except ValueError:
        return None
