"""Chroma's exception classes, each knowing its wire name and HTTP status.

Mirrors ``chromadb.errors`` so that ``except chromadb.errors.NotFoundError`` style code
keeps working with ``import chroma_frame as chromadb``.
"""

from __future__ import annotations


class ChromaError(Exception):
    """Base of every error raised by chroma-frame on purpose."""

    trace_id: str | None = None
    _code = 400
    _name = "ChromaError"

    def code(self) -> int:
        """HTTP status that goes with this error."""
        return self._code

    def message(self) -> str:
        return ", ".join(str(a) for a in self.args)

    @classmethod
    def name(cls) -> str:
        """Wire name, as in the ``error`` field of Chroma's HTTP error bodies."""
        return cls._name


class InvalidDimensionException(ChromaError):
    """Embedding dimension mismatch."""

    _name = "InvalidDimension"
    _code = 400


class IDAlreadyExistsError(ChromaError):
    """An id already exists."""

    _name = "IDAlreadyExists"
    _code = 409


class DuplicateIDError(ChromaError):
    """Duplicate ids in one call."""

    _name = "DuplicateID"
    _code = 400


class InvalidArgumentError(ChromaError):
    """An argument is invalid."""

    _name = "InvalidArgument"
    _code = 400


class InvalidUUIDError(ChromaError):
    """A malformed UUID."""

    _name = "InvalidUUID"
    _code = 400


class InvalidHTTPVersion(ChromaError):
    """Unsupported HTTP version."""

    _name = "InvalidHTTPVersion"
    _code = 400


class AuthorizationError(ChromaError):
    """Not authorised."""

    _name = "AuthorizationError"
    _code = 401


class NotFoundError(ChromaError):
    """A tenant, database or collection does not exist."""

    _name = "NotFoundError"
    _code = 404


class UniqueConstraintError(ChromaError):
    """A unique name is taken."""

    _name = "UniqueConstraintError"
    _code = 409


class BatchSizeExceededError(ChromaError):
    """Batch too large."""

    _name = "BatchSizeExceededError"
    _code = 413


class VersionMismatchError(ChromaError):
    """Client and server disagree."""

    _name = "VersionMismatchError"
    _code = 500


class InternalError(ChromaError):
    """An internal error."""

    _name = "InternalError"
    _code = 500


class RateLimitError(ChromaError):
    """Too many requests."""

    _name = "RateLimitError"
    _code = 429


class QuotaError(ChromaError):
    """A quota was exceeded."""

    _name = "QuotaError"
    _code = 400


class StorageIOError(InternalError, OSError):
    """A file could not be read or written (an I/O error of the disk); the message names it.

    Also an ``OSError`` (with ``errno`` and ``filename``), so code that already handles I/O errors
    keeps doing so; on the wire it is an ``InternalError`` with this message.
    """

    def __init__(self, message: str, *, errno: int | None = None, filename: str | None = None) -> None:
        super().__init__(message)
        self.errno, self.filename = errno, filename

    def __str__(self) -> str:
        return self.message()


class StorageWriteError(StorageIOError):
    """A file could not be written durably: what it was part of did not happen."""


class DiskFullError(StorageWriteError):
    """No space left on the device (``ENOSPC``) or the disk quota is exceeded (``EDQUOT``)."""


class ChromaAuthError(ChromaError):
    """Authentication failed."""

    _name = "AuthError"
    _code = 403

    def message(self) -> str:
        return "Forbidden"


error_types: dict[str, type[ChromaError]] = {
    "InvalidDimension": InvalidDimensionException,
    "InvalidArgumentError": InvalidArgumentError,
    "IDAlreadyExists": IDAlreadyExistsError,
    "DuplicateID": DuplicateIDError,
    "InvalidUUID": InvalidUUIDError,
    "InvalidHTTPVersion": InvalidHTTPVersion,
    "AuthorizationError": AuthorizationError,
    "NotFoundError": NotFoundError,
    "BatchSizeExceededError": BatchSizeExceededError,
    "VersionMismatchError": VersionMismatchError,
    "RateLimitError": RateLimitError,
    "AuthError": ChromaAuthError,
    "UniqueConstraintError": UniqueConstraintError,
    "QuotaError": QuotaError,
    "InternalError": InternalError,
    "ChromaError": ChromaError,
}
