"""Checksums for every file chroma-frame writes, and the error a damaged file raises.

CRC-32C (hardware-accelerated through ``google-crc32c``, about 15 GB/s here; it is also the
checksum S3 stores natively) guards every byte before it is trusted:

- files of our own formats (log entries, graphs, postings) end in a 16-byte *seal*:
  ``payload length (u64 LE) | crc32c (u32 LE) | b"CFS1"``; :func:`unseal` checks it and returns
  the payload;
- blockfiles stay plain Arrow IPC files (Polars and DuckDB read them as they are): their checksum
  and size are recorded in the manifest, which the reader reads first;
- JSON documents (manifest, catalog) carry a ``"crc32c"`` field over their canonical encoding.
"""

from __future__ import annotations

import json
import os
import struct
import time
from typing import TYPE_CHECKING, Any

import google_crc32c
import numpy as np
import pyarrow as pa

from chroma_frame.errors import InternalError

if TYPE_CHECKING:
    from chroma_frame.storage.fs import Storage

SEAL_MAGIC = b"CFS1"
SEAL = struct.Struct("<QI4s")  # payload length, crc32c, magic
SEAL_SIZE = SEAL.size  # 16


class CorruptFileError(InternalError):
    """A file chroma-frame wrote no longer holds what was written (bit rot, truncation, an edit).

    Its message names the file; ``chroma-frame doctor --path ...`` checks and repairs a path.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"damaged file {path}: {reason} (run `chroma-frame doctor` on this path)")
        self.path = path
        self.reason = reason


def crc32c(data: bytes | bytearray | memoryview | pa.Buffer | np.ndarray) -> int:
    """CRC-32C of ``data`` (bytes, an Arrow buffer or memory map, or a numpy array), zero copy."""
    if isinstance(data, bytes):
        return google_crc32c.value(data)
    return google_crc32c.value(np.frombuffer(data, dtype=np.uint8))


def seal(payload: bytes | pa.Buffer) -> bytes:
    """The trailer to append after ``payload``."""
    return SEAL.pack(len(payload), crc32c(payload), SEAL_MAGIC)


def is_sealed(data: bytes | pa.Buffer) -> bool:
    return len(data) >= SEAL_SIZE and bytes(memoryview(data)[-4:]) == SEAL_MAGIC


def unseal(data: bytes | pa.Buffer, path: str) -> bytes | pa.Buffer:
    """The payload of a sealed file, after checking its length and checksum (zero copy)."""
    if len(data) < SEAL_SIZE:
        raise CorruptFileError(path, f"truncated ({len(data)} bytes, no checksum trailer)")
    length, expected, magic = SEAL.unpack(bytes(memoryview(data)[-SEAL_SIZE:]))
    if magic != SEAL_MAGIC:
        raise CorruptFileError(path, "no checksum trailer (truncated or overwritten)")
    if length != len(data) - SEAL_SIZE:
        raise CorruptFileError(path, f"length {len(data) - SEAL_SIZE} bytes, expected {length}")
    payload = data[:length] if isinstance(data, bytes) else data.slice(0, length)
    actual = crc32c(payload)
    if actual != expected:
        raise CorruptFileError(path, f"checksum mismatch (crc32c {actual:08x}, expected {expected:08x})")
    return payload


def json_with_checksum(document: dict[str, Any]) -> bytes:
    """``document`` as JSON with a ``crc32c`` field over its canonical form (sorted keys)."""
    body = {k: v for k, v in document.items() if k != "crc32c"}
    body["crc32c"] = f"{crc32c(_canonical(body)):08x}"
    return json.dumps(body, indent=1).encode()


def load_checked_json(data: bytes, path: str, *, required: bool = True) -> dict[str, Any]:
    """Parse JSON written by :func:`json_with_checksum` and check it.

    A document without the field (written by an older chroma-frame) is accepted unless
    ``required``; a damaged one raises :class:`CorruptFileError`.
    """
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptFileError(path, f"not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise CorruptFileError(path, "not a JSON object")
    expected = document.pop("crc32c", None)
    if expected is None:
        if required:
            raise CorruptFileError(path, "no checksum")
        return document
    if f"{crc32c(_canonical(document)):08x}" != expected:
        raise CorruptFileError(path, "checksum mismatch (edited or damaged)")
    return document


def _canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


# -- verified once, remembered -------------------------------------------------------------------
# Checking a file's CRC-32C means reading all of it: at open, that cost grows with the collection.
# After a full check passes, a small marker next to the file records the checksum it vouched for
# and the file's identity (size, inode, mtime and ctime in ns); a later open trusts the file without
# reading it while the identity is unchanged. Any write to the file changes its ctime (which cannot
# be set back) and a copy gets a new inode, so a file edited, truncated, replaced or copied since is
# checked in full again. Files changed within the last few seconds are not marked: a change within
# the same timestamp tick as the check could otherwise go unseen (git's "racy clean" problem).
# ``chroma-frame doctor`` always checks in full.

VERIFIED_SUFFIX = ".verified"
_SETTLED_NS = 2_000_000_000  # a file must be this old (mtime and ctime) to be marked


def _identity(path: str) -> dict[str, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return {"size": st.st_size, "ino": st.st_ino, "dev": st.st_dev, "mtime_ns": st.st_mtime_ns,
            "ctime_ns": st.st_ctime_ns}


def verified_before(storage: "Storage", rel: str, checksum: str) -> bool:
    """Whether a full check of ``rel`` that found ``checksum`` is remembered for the file as it is now."""
    if not storage.is_local:
        vouches = getattr(storage, "vouches", None)  # an object store's local cache may vouch for its copy
        return bool(vouches and vouches(rel, checksum))
    try:
        with open(storage.path(rel + VERIFIED_SUFFIX), "rb") as f:
            document = load_checked_json(f.read(), rel + VERIFIED_SUFFIX)
    except (OSError, CorruptFileError):
        return False
    identity = _identity(storage.path(rel))
    return identity is not None and document == {"checksum": checksum, **identity}


def remember_verified(storage: "Storage", rel: str, checksum: str) -> None:
    """Record that ``rel`` passed a full check finding ``checksum`` (best effort: a read-only
    folder, or a file changed a moment ago, is simply checked in full next time)."""
    if not storage.is_local:
        return
    identity = _identity(storage.path(rel))
    if identity is None or time.time_ns() - max(identity["mtime_ns"], identity["ctime_ns"]) < _SETTLED_NS:
        return
    try:
        storage.write_atomic(rel + VERIFIED_SUFFIX, json_with_checksum({"checksum": checksum, **identity}))
    except OSError:
        pass
