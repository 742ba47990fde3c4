"""A local cache of object-storage files that are never rewritten, so a warm read is a local read.

:class:`FileCache` keeps whole copies of immutable objects (:func:`cache_key`: a collection's
``blocks/``, ``log/`` and ``manifests/`` files, ``catalog/`` versions) in a local folder laid
out like the bucket: ``<folder>/<rel>`` holds the bytes and ``<rel>.cf-meta`` their record
(size, CRC-32C, ETag, and the identity of the local file). A miss is one GET streamed to a
temporary file in the folder, fsynced and renamed into place, so a crash never leaves a partial
file that passes for a complete one; a hit is a ``pa.memory_map`` of the local file.

**Verification: at download, then by identity.** The CRC-32C is computed while the bytes arrive
(free: it overlaps the network) and the size checked against the response's. The record also
keeps the cached file's identity (size, inode, mtime and ctime in ns) right after the rename. A
process's first open of an entry compares the file's identity with the record: equal, the file
is the one downloaded and is served without reading it (any write to a file changes its ctime,
and cache files are only ever written under temporary names); different (copied, or replaced by
another process's download of the same object), the file is read once and its CRC-32C compared
(then the record is updated); a size that differs, a missing or damaged record, or a CRC-32C
that does not match drops the entry and fetches the object again. This costs a query one
``stat`` per file per process, where checking a CRC-32C on each process's first open would read
every byte of every file (about 15 GB/s, but it also faults every page in). For the same reason
the cache vouches for a blockfile to its reader (:meth:`vouches`: the manifest's CRC-32C equals
the one computed at download), so that the reader's own full check is skipped as it is for a
local blockfile already verified once; sealed files (log entries, graphs, postings, typed
columns) are still checked by their readers on every read, as on a local disk.

**Bounded.** After each download the folder is scanned and least recently used entries (by the
record's mtime, touched on each open) are removed until the total is under ``max_bytes``; a
reader that has a removed file mapped keeps reading it (POSIX unlink). An object larger than
``max_bytes`` is not cached.

**Shared and disposable.** Several processes may use one folder: every file appears by rename,
two downloads of one object both end with a complete entry, and no locks are taken. The folder
may be deleted at any time (``rm -rf``), even under running processes: an entry that vanished is
downloaded again, and a download whose folder vanished is served from its unlinked temporary
file and not kept.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

import google_crc32c
import numpy as np
import pyarrow as pa

from chroma_frame.storage.integrity import CorruptFileError, crc32c, json_with_checksum, load_checked_json

DEFAULT_BYTES = 10 << 30
BYTES_ENV = "CHROMA_FRAME_CACHE_BYTES"
META = ".cf-meta"
TMP = ".cf-tmp"
_STALE_TMP_S = 3600  # a temporary file this old belongs to a download that died
_IMMUTABLE = re.compile(r"(collections/[^/]+/(blocks|log|manifests)|catalog)/[^/]+")
_REWRITTEN = (".tmp", ".verified", ".failed.json")  # names under those folders that are rewritten


def cache_key(rel: str) -> Optional[str]:
    """The name under which the file at ``rel`` (relative to a storage's root) is cached, or None
    when it may be rewritten once written, so is never cached (``collection.json``, legacy
    ``catalog.json`` / ``manifest.json``, ``versions/*``, index-build failure markers). Paths are
    normalised: a fork's manifest names its source's blockfiles as ``../<source>/blocks/...``."""
    rel = posixpath.normpath(rel)
    return rel if _IMMUTABLE.fullmatch(rel) is not None and not rel.endswith(_REWRITTEN) else None


def cache_for(bucket: str, scope: str, folder: str | os.PathLike[str] | bool | None = None,
              max_bytes: Optional[int] = None) -> Optional["FileCache"]:
    """The cache a storage on ``bucket`` uses: under ``folder`` (None: :func:`default_folder`;
    False: none), in a subfolder of its own (``<bucket>/<hash of scope>``), so that stores sharing
    a cache folder never serve each other's files (their paths are the same: ``catalog/...``);
    of ``max_bytes`` (None: :func:`default_bytes`; 0: none)."""
    if folder is False or folder == "":
        return None
    max_bytes = default_bytes() if max_bytes is None else max_bytes
    if max_bytes <= 0:
        return None
    if folder is None or folder is True:
        folder = default_folder(bucket, scope)
    else:
        folder = os.path.join(os.fspath(folder), bucket, hashlib.sha256(scope.encode()).hexdigest()[:16])
    return FileCache(folder, max_bytes)


def default_folder(bucket: str, scope: str) -> str:
    """``$XDG_CACHE_HOME/chroma-frame/s3/<bucket>/<hash of scope>`` (``~/.cache`` by default);
    ``scope`` names the endpoint and prefix, so two servers' buckets of one name never mix."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "chroma-frame", "s3", bucket, hashlib.sha256(scope.encode()).hexdigest()[:16])


def default_bytes() -> int:
    """``$CHROMA_FRAME_CACHE_BYTES``, else 10 GiB."""
    value = os.environ.get(BYTES_ENV, "").strip()
    if not value:
        return DEFAULT_BYTES
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{BYTES_ENV} must be a number of bytes, not {value!r}") from None


@dataclass(frozen=True)
class Fetched:
    """An object being downloaded: its size and ETag (from the response) and its bytes, in chunks."""

    size: int
    etag: Optional[str]
    chunks: Iterable[bytes]


@dataclass(frozen=True)
class _Verified:
    identity: tuple[int, ...]
    crc32c: int


class FileCache:
    """Whole local copies of immutable objects under ``folder``, at most ``max_bytes`` in all."""

    def __init__(self, folder: str, max_bytes: int) -> None:
        self.folder = os.path.abspath(folder)
        self.max_bytes = max_bytes
        self._verified: dict[str, _Verified] = {}  # entries this process checked, as they were then

    def path(self, rel: str) -> str:
        return os.path.join(self.folder, *rel.split("/"))

    # -- reading -------------------------------------------------------------------------
    def open(self, rel: str, fetch: Callable[[], Fetched]) -> Optional[pa.MemoryMappedFile]:
        """The file ``rel`` memory-mapped from the cache, downloaded through ``fetch`` on a miss;
        None when the object is too large to cache or the folder cannot hold it (the caller
        reads it from the store). Errors of ``fetch`` (a missing object) propagate."""
        mapped = self._hit(rel)
        if mapped is not None:
            return mapped
        for _ in range(2):  # a second try when the folder was deleted under the first
            fetched = fetch()
            if fetched.size > self.max_bytes:
                return None
            mapped = self.store(rel, fetched)
            if mapped is not None:
                return mapped
        return None

    def _hit(self, rel: str) -> Optional[pa.MemoryMappedFile]:
        path = self.path(rel)
        try:
            mapped = pa.memory_map(path)
            identity = _identity(os.stat(path))
        except (FileNotFoundError, NotADirectoryError):
            self._verified.pop(rel, None)
            return None
        except OSError:
            return None
        known = self._verified.get(rel)
        if known is None or known.identity != identity:
            known = self._check(rel, mapped, identity)
            if known is None:
                mapped.close()
                self.discard(rel)
                return None
            self._verified[rel] = known
        _touch(path + META)
        return mapped

    def _check(self, rel: str, mapped: pa.MemoryMappedFile, identity: tuple[int, ...]) -> Optional[_Verified]:
        """The entry verified against its record (by identity, else by reading it), or None."""
        try:
            with open(self.path(rel) + META, "rb") as f:
                record = load_checked_json(f.read(), rel + META)
            size, expected = int(record["size"]), int(record["file_crc32c"], 16)
        except (OSError, CorruptFileError, KeyError, TypeError, ValueError):
            return None
        if identity[0] != size:
            return None
        if record.get("identity") == list(identity):
            return _Verified(identity, expected)
        actual = crc32c(mapped.read_buffer())  # zero copy, but it moves the position: back to 0
        mapped.seek(0)
        if actual != expected:
            return None
        self._write_record(rel, size, expected, record.get("etag"), identity)
        return _Verified(identity, expected)

    def vouches(self, rel: str, checksum: str) -> bool:
        """Whether this process verified its cached copy of ``rel`` and it was downloaded with
        CRC-32C ``checksum`` (8 hex digits), so that a reader need not check it again."""
        known = self._verified.get(rel)
        return known is not None and f"{known.crc32c:08x}" == checksum

    # -- writing -------------------------------------------------------------------------
    def store(self, rel: str, fetched: Fetched) -> Optional[pa.MemoryMappedFile]:
        """Put ``fetched``'s bytes in the cache as ``rel`` (a download, or a copy of what this
        process just uploaded) and map them; None when the folder could not take them (deleted
        meanwhile, or full) or they were not ``fetched.size`` bytes."""
        if fetched.size > self.max_bytes:
            return None
        path = self.path(rel)
        tmp = f"{path}.{uuid.uuid4().hex}{TMP}"
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            crc, size = 0, 0
            with open(tmp, "wb") as f:
                for chunk in fetched.chunks:
                    view = np.frombuffer(chunk, dtype=np.uint8)
                    crc = google_crc32c.extend(crc, view)
                    size += len(view)
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())  # the record vouches for these bytes: they must be on disk first
            if size != fetched.size:
                raise OSError(f"{rel}: received {size} bytes of {fetched.size}")
            mapped = pa.memory_map(tmp)  # the download is served even if the rename fails
            # recorded first (an opener meanwhile checks the CRC-32C instead of finding no record)
            self._write_record(rel, size, crc, fetched.etag, None)
            os.replace(tmp, path)
        except OSError:
            _remove(tmp)
            return None
        try:
            identity = _identity(os.stat(path))
            self._write_record(rel, size, crc, fetched.etag, identity)
            self._verified[rel] = _Verified(identity, crc)
            self._evict(keep=rel)
        except OSError:  # the folder went away meanwhile: the entry is simply not kept
            pass
        return mapped

    def _write_record(self, rel: str, size: int, crc: int, etag: Optional[str],
                      identity: Optional[tuple[int, ...]]) -> None:
        record = {"size": size, "file_crc32c": f"{crc:08x}", "etag": etag, "identity": identity and list(identity)}
        target = self.path(rel) + META
        tmp = f"{target}.{uuid.uuid4().hex}{TMP}"
        try:
            with open(tmp, "wb") as f:
                f.write(json_with_checksum(record))
            os.replace(tmp, target)
        except OSError:
            _remove(tmp)  # best effort: without a record the entry is downloaded again

    # -- forgetting ----------------------------------------------------------------------
    def discard(self, rel: str) -> None:
        """Drop the cached copy of ``rel`` (deleted from the store, or found damaged)."""
        self._verified.pop(rel, None)
        path = self.path(rel)
        _remove(path + META)
        _remove(path)

    def discard_dir(self, rel_dir: str) -> None:
        """Drop every cached file under ``rel_dir`` (``""``: all)."""
        rel_dir = posixpath.normpath(rel_dir.strip("/") or ".")
        if rel_dir.startswith(".."):
            return  # not in the folder
        prefix = "" if rel_dir == "." else rel_dir + "/"
        for rel in [r for r in list(self._verified) if r.startswith(prefix)]:
            self._verified.pop(rel, None)
        for dirpath, _, names in os.walk(self.path(rel_dir) if prefix else self.folder, topdown=False):
            for name in names:
                _remove(os.path.join(dirpath, name))
            try:
                os.rmdir(dirpath)
            except OSError:
                pass

    def _evict(self, keep: str) -> None:
        """Remove least recently used entries until the folder holds at most ``max_bytes``."""
        entries, total, now = [], 0, time.time()
        for dirpath, _, names in os.walk(self.folder):
            for name in names:
                path = os.path.join(dirpath, name)
                try:
                    st = os.stat(path)
                    if name.endswith(TMP):
                        if now - st.st_mtime > _STALE_TMP_S:
                            _remove(path)
                        else:
                            total += st.st_size
                        continue
                    if name.endswith(META):
                        continue
                    try:
                        used = os.stat(path + META).st_mtime
                    except FileNotFoundError:
                        used = 0.0  # no record: unusable, first to go
                except FileNotFoundError:
                    continue
                total += st.st_size
                entries.append((used, st.st_size, os.path.relpath(path, self.folder).replace(os.sep, "/")))
        for _, size, rel in sorted(entries):
            if total <= self.max_bytes:
                break
            if rel != keep:
                self.discard(rel)
                total -= size


def _identity(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_size, st.st_ino, st.st_dev, st.st_mtime_ns, st.st_ctime_ns)


def _touch(path: str) -> None:
    try:
        os.utime(path)
    except OSError:
        pass


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
