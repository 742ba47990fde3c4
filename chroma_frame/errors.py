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


def _error(name: str, wire: str, code: int, doc: str) -> type[ChromaError]:
    return type(name, (ChromaError,), {"_name": wire, "_code": code, "__doc__": doc})


InvalidDimensionException = _error("InvalidDimensionException", "InvalidDimension", 400, "Embedding dimension mismatch.")
IDAlreadyExistsError = _error("IDAlreadyExistsError", "IDAlreadyExists", 409, "An id already exists.")
DuplicateIDError = _error("DuplicateIDError", "DuplicateID", 400, "Duplicate ids in one call.")
InvalidArgumentError = _error("InvalidArgumentError", "InvalidArgument", 400, "An argument is invalid.")
InvalidUUIDError = _error("InvalidUUIDError", "InvalidUUID", 400, "A malformed UUID.")
InvalidHTTPVersion = _error("InvalidHTTPVersion", "InvalidHTTPVersion", 400, "Unsupported HTTP version.")
AuthorizationError = _error("AuthorizationError", "AuthorizationError", 401, "Not authorised.")
NotFoundError = _error("NotFoundError", "NotFoundError", 404, "A tenant, database or collection does not exist.")
UniqueConstraintError = _error("UniqueConstraintError", "UniqueConstraintError", 409, "A unique name is taken.")
BatchSizeExceededError = _error("BatchSizeExceededError", "BatchSizeExceededError", 413, "Batch too large.")
VersionMismatchError = _error("VersionMismatchError", "VersionMismatchError", 500, "Client and server disagree.")
InternalError = _error("InternalError", "InternalError", 500, "An internal error.")
RateLimitError = _error("RateLimitError", "RateLimitError", 429, "Too many requests.")
QuotaError = _error("QuotaError", "QuotaError", 400, "A quota was exceeded.")


class StorageIOError(InternalError, OSError):  # type: ignore[misc, valid-type]
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
