"""Talking to S3-compatible object storage: configuration, the object client, the Arrow filesystem.

:class:`S3Config` resolves where and how to connect from an ``s3://bucket/prefix`` URL, the
standard AWS environment variables and explicit overrides. :class:`S3Objects` does whole-object
operations through ``obstore`` (puts, conditional puts, gets, listings, deletes) and reports
failures as ``OSError`` s, for :mod:`chroma_frame.storage.fs` to turn into Chroma errors.
:func:`arrow_filesystem` builds the ``pyarrow.fs.S3FileSystem`` used for random-access reads.

This module is imported only for ``s3://`` paths: ``obstore`` is an optional dependency.
"""

from __future__ import annotations

import errno
import os
import posixpath
import random
import re
import time
from dataclasses import dataclass, field
from typing import IO, Iterable, Iterator, Mapping, Optional, Union
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.fs as pafs

try:
    import obstore
    from obstore.exceptions import AlreadyExistsError, PermissionDeniedError, UnauthenticatedError
    from obstore.store import S3Store
except ImportError as exc:  # pragma: no cover - exercised by a test that hides obstore
    raise ImportError("s3:// paths need obstore: pip install 'chroma-frame[s3]'") from exc

DEFAULT_REGION = "us-east-1"
_CONFLICT = re.compile(r"\b409\b")  # object_store reports S3's 409 (a concurrent conditional write) as "exists"
_CONFLICT_RETRIES = 8
_DELETE_BATCH = 1000  # DeleteObjects takes up to 1,000 keys
_STREAM_CHUNK = 8 << 20

Body = Union[bytes, pa.Buffer, IO[bytes]]


@dataclass(frozen=True)
class S3Config:
    """Where a storage lives on S3 and how to reach it; secrets are kept out of ``repr``."""

    bucket: str
    prefix: str = ""
    endpoint_url: Optional[str] = None  # None: AWS itself
    region: str = DEFAULT_REGION
    access_key_id: Optional[str] = field(default=None, repr=False)
    secret_access_key: Optional[str] = field(default=None, repr=False)
    session_token: Optional[str] = field(default=None, repr=False)

    @classmethod
    def from_url(cls, url: str, *, endpoint_url: Optional[str] = None, region: Optional[str] = None,
                 access_key_id: Optional[str] = None, secret_access_key: Optional[str] = None,
                 session_token: Optional[str] = None, environ: Optional[Mapping[str, str]] = None) -> "S3Config":
        """``s3://bucket/prefix`` with each setting from its keyword, else the AWS environment
        (``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``, ``AWS_REGION`` / ``AWS_DEFAULT_REGION``,
        ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``)."""
        env = os.environ if environ is None else environ
        parts = urlsplit(url)
        if parts.scheme.lower() != "s3" or not parts.netloc:
            raise ValueError(f"not an s3://bucket/prefix URL: {url!r}")

        def pick(given: Optional[str], *names: str) -> Optional[str]:
            return given or next((env[n] for n in names if env.get(n)), None)

        return cls(
            bucket=parts.netloc,
            prefix=parts.path.strip("/"),
            endpoint_url=(pick(endpoint_url, "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL") or "").rstrip("/") or None,
            region=pick(region, "AWS_REGION", "AWS_DEFAULT_REGION") or DEFAULT_REGION,
            access_key_id=pick(access_key_id, "AWS_ACCESS_KEY_ID"),
            secret_access_key=pick(secret_access_key, "AWS_SECRET_ACCESS_KEY"),
            session_token=pick(session_token, "AWS_SESSION_TOKEN"),
        )

    @property
    def allow_http(self) -> bool:
        return bool(self.endpoint_url) and urlsplit(self.endpoint_url or "").scheme.lower() == "http"

    @property
    def root(self) -> str:
        """The storage's root as a ``pyarrow.fs`` S3 path: ``bucket/prefix``."""
        return f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket

    def key(self, rel: str) -> str:
        """The object key of ``rel``, a path relative to the root."""
        rel = rel.strip("/")
        if ".." in rel:  # a fork's ../<id>/blocks/...: keys are taken literally
            rel = posixpath.normpath(rel)
        return f"{self.prefix}/{rel}" if self.prefix and rel else (self.prefix or rel)


def arrow_filesystem(config: S3Config) -> pafs.S3FileSystem:
    """A ``pyarrow.fs.S3FileSystem`` for ``config``, given everything explicitly (its constructor
    does not read ``AWS_ENDPOINT_URL``). Path-style addressing, as S3-compatible servers need."""
    options: dict = {"region": config.region, "allow_delayed_open": True, "force_virtual_addressing": False}
    if config.endpoint_url:
        parts = urlsplit(config.endpoint_url)
        options.update(endpoint_override=parts.netloc or parts.path, scheme=parts.scheme or "https")
    if config.access_key_id and config.secret_access_key:
        options.update(access_key=config.access_key_id, secret_key=config.secret_access_key,
                       session_token=config.session_token)
    return pafs.S3FileSystem(**options)


class S3Objects:
    """Whole-object operations on one bucket through ``obstore``; keys are full object keys.

    Every failure is an ``OSError``: ``FileNotFoundError`` for a missing key, ``PermissionError``
    for refused credentials, a plain ``OSError`` naming the cause otherwise.
    """

    def __init__(self, config: S3Config) -> None:
        self.config = config
        settings: dict = {"region": config.region, "virtual_hosted_style_request": False}
        if config.endpoint_url:
            settings["endpoint"] = config.endpoint_url
        if config.access_key_id and config.secret_access_key:
            settings.update(access_key_id=config.access_key_id, secret_access_key=config.secret_access_key)
            if config.session_token:
                settings["session_token"] = config.session_token
        self.store = S3Store(config.bucket, config=settings,  # type: ignore[arg-type]
                             client_options={"allow_http": config.allow_http})

    def get(self, key: str) -> bytes:
        try:
            return bytes(obstore.get(self.store, key).bytes())
        except Exception as exc:
            raise _oserror(exc) from exc

    def get_stream(self, key: str) -> tuple[int, Optional[str], Iterator[bytes]]:
        """One GET, streamed: the object's size and ETag (from the response headers) and its
        bytes in chunks of 8 MB; the body is transferred only as the chunks are read."""
        try:
            result = obstore.get(self.store, key)
        except Exception as exc:
            raise _oserror(exc) from exc
        meta = result.meta
        return meta["size"], meta.get("e_tag"), _oserrors(result.stream(min_chunk_size=_STREAM_CHUNK))

    def put(self, key: str, body: Body) -> None:
        """Write the whole object (one PUT, multipart past obstore's 5 MB chunk): all of it or nothing."""
        try:
            obstore.put(self.store, key, _putable(body))
        except Exception as exc:
            raise _oserror(exc) from exc

    def put_if_absent(self, key: str, body: bytes | pa.Buffer) -> bool:
        """``If-None-Match: *``: True when this call created ``key``, False when it existed.

        A 409 (S3's ConditionalRequestConflict: another conditional write to the key in flight)
        is retried after a short random pause until one of the writes has won.
        """
        data = _putable(body)
        for attempt in range(_CONFLICT_RETRIES):
            try:
                obstore.put(self.store, key, data, mode="create")
                return True
            except AlreadyExistsError as exc:
                if not _CONFLICT.search(_first_line(exc)):
                    return False
                if attempt == _CONFLICT_RETRIES - 1:
                    raise OSError(errno.EBUSY, f"conditional writes to {key} kept conflicting (409)") from exc
            except Exception as exc:
                raise _oserror(exc) from exc
            time.sleep(random.uniform(0, 0.02 * 2**attempt))
        raise AssertionError("unreachable")

    def exists_object(self, key: str) -> bool:
        """True when the object ``key`` exists (one HEAD; folders do not count)."""
        try:
            obstore.head(self.store, key)
            return True
        except FileNotFoundError:
            return False
        except Exception as exc:
            raise _oserror(exc) from exc

    def exists(self, key: str) -> bool:
        """True for an object (HEAD), or for a 'folder': a key with ``key/`` in front."""
        try:
            obstore.head(self.store, key)
            return True
        except FileNotFoundError:
            pass
        except Exception as exc:
            raise _oserror(exc) from exc
        return self._any_under(key)

    def list_children(self, key: str) -> list[str]:
        """Names directly under ``key/`` (objects and 'folders'), through one delimiter listing."""
        try:
            found = obstore.list_with_delimiter(self.store, key or None)
        except Exception as exc:
            raise _oserror(exc) from exc
        paths = [p.rstrip("/") for p in found["common_prefixes"]] + [m["path"] for m in found["objects"]]
        cut = len(key) + 1 if key else 0
        return [name for name in (p[cut:] for p in paths) if name and "/" not in name]

    def list_after(self, key: str, after: str) -> list[str]:
        """Names of the objects under ``key/`` that sort after ``after`` (S3 lists from there:
        the cost follows what is new, not the folder's size)."""
        try:
            found = [meta["path"] for chunk in obstore.list(self.store, key, offset=f"{key}/{after}", chunk_size=1000)
                     for meta in chunk]
        except Exception as exc:
            raise _oserror(exc) from exc
        cut = len(key) + 1
        return [p[cut:] for p in found if "/" not in p[cut:]]

    def list_objects(self, key: str) -> list[tuple[str, int, float]]:
        """(name, size, modification time) of the objects directly under ``key/``."""
        try:
            found = obstore.list_with_delimiter(self.store, key or None)
        except Exception as exc:
            raise _oserror(exc) from exc
        cut = len(key) + 1 if key else 0
        return [(meta["path"][cut:], int(meta["size"]), meta["last_modified"].timestamp())
                for meta in found["objects"] if "/" not in meta["path"][cut:]]

    def size(self, key: str) -> Optional[int]:
        """The size of object ``key``; None when there is none (one HEAD)."""
        try:
            return int(obstore.head(self.store, key)["size"])
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise _oserror(exc) from exc

    def delete(self, key: str) -> None:
        """Delete ``key``; a missing key is fine (S3 answers 204 either way)."""
        try:
            obstore.delete(self.store, key)
        except FileNotFoundError:
            pass
        except Exception as exc:
            raise _oserror(exc) from exc

    def delete_prefix(self, key: str) -> None:
        """Delete every object under ``key/`` (bulk DeleteObjects, 1,000 keys a request)."""
        try:
            for chunk in obstore.list(self.store, key or None, chunk_size=_DELETE_BATCH):
                obstore.delete(self.store, [meta["path"] for meta in chunk])
        except Exception as exc:
            raise _oserror(exc) from exc

    def copy(self, src: str, dest: str) -> None:
        try:
            obstore.copy(self.store, src, dest)
        except Exception as exc:
            raise _oserror(exc) from exc

    def _any_under(self, key: str) -> bool:
        try:
            for chunk in obstore.list(self.store, key or None, chunk_size=1):  # the first page only
                return bool(chunk)
        except Exception as exc:
            raise _oserror(exc) from exc
        return False


def _oserrors(chunks: Iterable[bytes]) -> Iterator[bytes]:
    try:
        yield from chunks
    except Exception as exc:
        raise _oserror(exc) from exc


def _putable(body: Body) -> Union[bytes, memoryview, IO[bytes]]:
    if isinstance(body, pa.Buffer):
        return memoryview(body).cast("B")  # obstore takes unsigned-byte buffers; Arrow's say signed
    return body


def _first_line(exc: BaseException) -> str:
    return str(exc).split("\n", 1)[0]  # obstore appends a multi-line debug dump


def _oserror(exc: Exception) -> OSError:
    """``exc``, an obstore failure, as the ``OSError`` the storage layer maps to Chroma errors."""
    text = _first_line(exc)
    if "NoSuchBucket" in str(exc):  # not a missing file: the whole storage is unreachable
        return OSError(f"no such bucket: {text}")  # (an errno of ENOENT would make it a FileNotFoundError)
    if isinstance(exc, OSError):  # obstore raises FileNotFoundError itself
        return exc
    if isinstance(exc, (PermissionDeniedError, UnauthenticatedError)):
        return PermissionError(text)
    return OSError(text)
