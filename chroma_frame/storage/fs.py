"""File access through ``pyarrow.fs``, with the durable-write discipline on top.

Every byte chroma-frame writes goes through :class:`Storage`: a pyarrow filesystem plus a root
folder. Local disks get real ``fsync`` calls; S3-compatible object storage (:class:`S3Storage`,
``Storage.for_path("s3://bucket/prefix")``) gets whole-object puts, where a completed upload is
already durable: see docs/storage.md, "Object storage (S3)".

A failed write raises :class:`~chroma_frame.errors.DiskFullError` (no space, quota) or
:class:`~chroma_frame.errors.StorageWriteError` (any other I/O error), both Chroma
``InternalError`` s that name the file, and leaves nothing behind: the temporary file is removed,
and a file renamed into place whose folder could not be synced is taken back out.

A ``pyarrow.fs.PyFileSystem`` whose handler has ``is_local = True`` is treated as a view of the
local disk (same paths): it is fsynced through the handler's ``fsync(path)``, links through its
``link(src, dest)`` when it has one, and may use local-only features (the index builder process).
:func:`wrap_local_filesystem` makes :meth:`Storage.local` use such a wrapper for one root, which is
how the fault-injection tests run the real client over a failing disk.
"""

from __future__ import annotations

import errno
import os
import posixpath
import re
import tempfile
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Optional

import pyarrow as pa
import pyarrow.fs as pafs

from chroma_frame.errors import DiskFullError, StorageIOError, StorageWriteError
from chroma_frame.storage.cache import Fetched, FileCache, cache_for, cache_key

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from chroma_frame.storage.s3 import S3Objects

_DISK_FULL = {errno.ENOSPC: "No space left on device", errno.EDQUOT: "Disk quota exceeded"}
_ERRNO_IN_TEXT = re.compile(r"\[errno (\d+)\]", re.IGNORECASE)  # pyarrow: "... Detail: [errno 28] ..."
_UNDO_LIMIT = 16 << 20  # a replaced file up to this size is kept in memory to undo an unsynced rename
_SPILL_SIZE = 64 << 20  # an object being written to S3 is buffered in memory up to this size, then on disk
_ABSENT = object()
_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")

_wrappers: dict[str, Callable[[pafs.FileSystem], pafs.FileSystem]] = {}
_wrappers_lock = threading.Lock()


def _errno(exc: OSError) -> int | None:
    if exc.errno is not None:
        return exc.errno
    found = _ERRNO_IN_TEXT.search(str(exc))
    return int(found.group(1)) if found else None


def write_error(exc: OSError, target: str, *, maybe_committed: bool = False) -> OSError:
    """The Chroma error to raise for ``exc``, an I/O error while writing ``target``.

    ``FileNotFoundError`` (the folder is gone: a dropped collection) is left as it is, for the
    caller to interpret.
    """
    if isinstance(exc, (StorageIOError, FileNotFoundError)):
        return exc
    code = _errno(exc)
    outcome = "the write may have been committed" if maybe_committed else "the write was not committed"
    if code in _DISK_FULL:
        return DiskFullError(f"{_DISK_FULL[code]} while writing {target}: {outcome}", errno=code, filename=target)
    reason = os.strerror(code) if code else (str(exc) or type(exc).__name__)
    return StorageWriteError(f"I/O error while writing {target} ({reason}): {outcome}", errno=code, filename=target)


def read_error(exc: OSError, target: str) -> OSError:
    """The Chroma error to raise for ``exc``, an I/O error while reading ``target``; a missing file
    (``FileNotFoundError``) stays what it is, callers expect it."""
    if isinstance(exc, (StorageIOError, FileNotFoundError)):
        return exc
    code = _errno(exc)
    reason = os.strerror(code) if code else (str(exc) or type(exc).__name__)
    return StorageIOError(f"I/O error while reading {target} ({reason})", errno=code, filename=target)


@contextmanager
def wrap_local_filesystem(path: str, wrap: Callable[[pafs.FileSystem], pafs.FileSystem]) -> Iterator[None]:
    """Within the block, :meth:`Storage.local` for ``path`` uses ``wrap(LocalFileSystem)``.

    ``wrap`` should return a ``PyFileSystem`` whose handler delegates to the local filesystem and
    has ``is_local = True`` and ``fsync(path)``. Storages made inside the block keep the wrapper.
    """
    key = os.path.realpath(os.path.abspath(os.fspath(path)))
    with _wrappers_lock:
        _wrappers[key] = wrap
    try:
        yield
    finally:
        with _wrappers_lock:
            _wrappers.pop(key, None)


_pool: Optional["ThreadPoolExecutor"] = None


def _requests() -> "ThreadPoolExecutor":
    """Threads for object-store requests sent together (they wait on the network, not the GIL)."""
    global _pool
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(8, thread_name_prefix="chroma-frame-s3")
    return _pool


def _normal(rel: str) -> str:
    """``rel`` without ``..`` steps (a fork lists its source's blockfiles as ``../<id>/...``;
    object stores take keys literally)."""
    return posixpath.normpath(rel) if ".." in rel else rel


def fsync_path(abs_path: str) -> None:
    """fsync a local file or folder by path."""
    fd = os.open(abs_path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class FileEntry:
    """A file found by :meth:`Storage.list_entries`: its name, size and modification time."""

    name: str
    size: Optional[int]
    mtime: Optional[float]  # seconds since the epoch


class Created:
    """What :meth:`Storage.create_output` yields: the stream to write, then whether it won."""

    stream: pa.NativeFile
    done: bool = False


@dataclass(frozen=True)
class Storage:
    """A pyarrow filesystem rooted at ``root``; paths given to methods are relative to it."""

    fs: pafs.FileSystem
    root: str
    durable: bool = True

    @classmethod
    def local(cls, path: str, *, durable: bool = True) -> "Storage":
        root = os.path.abspath(os.fspath(path))
        fs: pafs.FileSystem = pafs.LocalFileSystem(use_mmap=True)  # blockfiles are read memory-mapped
        with _wrappers_lock:
            wrap = _wrappers.get(os.path.realpath(root))
        if wrap is not None:
            fs = wrap(fs)
        storage = cls(fs, root, durable)
        storage.makedirs("")
        return storage

    @classmethod
    def for_path(cls, path: str | os.PathLike[str], *, endpoint_url: Optional[str] = None, region: Optional[str] = None,
                 access_key_id: Optional[str] = None, secret_access_key: Optional[str] = None,
                 session_token: Optional[str] = None, durable: bool = True,
                 cache_dir: str | os.PathLike[str] | bool | None = None,
                 cache_bytes: Optional[int] = None) -> "Storage":
        """The storage for ``path``: ``s3://bucket/prefix`` is object storage (each setting from
        its keyword, else the standard AWS environment variables), anything else a local folder.

        On S3, immutable files are read through a local cache (:mod:`chroma_frame.storage.cache`)
        in ``cache_dir`` (default ``$XDG_CACHE_HOME/chroma-frame/s3/<bucket>/<hash>``; False: no
        cache) of at most ``cache_bytes`` (default ``$CHROMA_FRAME_CACHE_BYTES`` or 10 GiB; 0: no
        cache)."""
        path = os.fspath(path)
        found = _URL_SCHEME.match(path)
        scheme = found.group(1).lower() if found else ""
        if scheme == "s3":
            from chroma_frame.storage.s3 import S3Config, S3Objects, arrow_filesystem

            config = S3Config.from_url(path, endpoint_url=endpoint_url, region=region, access_key_id=access_key_id,
                                       secret_access_key=secret_access_key, session_token=session_token)
            cache = cache_for(config.bucket, f"{config.endpoint_url or 'aws'} {config.prefix}", cache_dir, cache_bytes)
            return S3Storage(arrow_filesystem(config), config.root, objects=S3Objects(config), cache=cache)
        if scheme and scheme != "file":
            raise ValueError(f"unsupported storage URL {path!r}: a local path or s3://bucket/prefix")
        return cls.local(path[len("file://"):] if scheme else path, durable=durable)

    @property
    def _handler(self) -> object:
        return getattr(self.fs, "handler", None)  # a PyFileSystem's handler, else None

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem) or bool(getattr(self._handler, "is_local", False))

    def path(self, rel: str) -> str:
        return f"{self.root}/{_normal(rel)}" if rel else self.root

    # -- reading -------------------------------------------------------------------------
    def read_bytes(self, rel: str) -> bytes:
        target = self.path(rel)
        try:
            with self.fs.open_input_stream(target) as f:
                return f.read()
        except OSError as exc:
            raise read_error(exc, target) from exc

    def open_input(self, rel: str) -> pa.NativeFile:
        target = self.path(rel)
        try:
            return self.fs.open_input_file(target)
        except OSError as exc:
            raise read_error(exc, target) from exc

    def exists(self, rel: str) -> bool:
        return self.fs.get_file_info(self.path(rel)).type != pafs.FileType.NotFound

    def has_file(self, rel: str) -> bool:
        """Whether a file (not a folder) is at ``rel``: one stat, or one HEAD on S3."""
        return self.fs.get_file_info(self.path(rel)).type == pafs.FileType.File

    def list_names(self, rel_dir: str) -> list[str]:
        """Names of the entries directly inside ``rel_dir`` (empty when it does not exist)."""
        infos = self.fs.get_file_info(pafs.FileSelector(self.path(rel_dir), allow_not_found=True))
        return [info.base_name for info in infos]

    def list_names_after(self, rel_dir: str, after: str) -> list[str]:
        """Names inside ``rel_dir`` that sort after ``after``, ascending (on S3 one listing that
        starts there)."""
        return sorted(name for name in self.list_names(rel_dir) if name > after)

    def has_files(self, rels: list[str]) -> list[bool]:
        """:meth:`has_file` of each (on S3 the requests go out at once)."""
        return [self.has_file(rel) for rel in rels]

    def list_entries(self, rel_dir: str) -> list[FileEntry]:
        """The files directly inside ``rel_dir``, with size and modification time."""
        infos = self.fs.get_file_info(pafs.FileSelector(self.path(rel_dir), allow_not_found=True))
        return [FileEntry(i.base_name, i.size, i.mtime.timestamp() if i.mtime is not None else None)
                for i in infos if i.type == pafs.FileType.File]

    def size(self, rel: str) -> Optional[int]:
        """The size of the file at ``rel``; None when there is none."""
        info = self.fs.get_file_info(self.path(rel))
        return info.size if info.type == pafs.FileType.File else None

    # -- writing -------------------------------------------------------------------------
    def makedirs(self, rel_dir: str) -> None:
        target = self.path(rel_dir)
        try:
            self.fs.create_dir(target, recursive=True)
        except OSError as exc:
            raise write_error(exc, target) from exc

    def write_atomic(self, rel: str, data: bytes | pa.Buffer) -> None:
        """Write a whole file so that readers see either nothing or all of it, durably.

        Write a temporary sibling, fsync it, rename it into place, fsync the folder.
        """
        with self.atomic_output(rel) as out:
            out.write(data)

    def put_if_absent(self, rel: str, data: bytes | pa.Buffer) -> bool:
        """Write a whole file only if nothing has that name: True when this call created it,
        False when it existed. Never leaves a partial file visible, whoever wins a race.

        Write a temporary sibling, fsync it, hard-link it to the name (``link(2)`` fails with
        EEXIST when the name is taken), remove the temporary, fsync the folder. If that last fsync
        fails the file stays (another writer may already have seen it) and the error says that
        the write may have been committed.
        """
        with self.create_output(rel) as created:
            created.stream.write(data)
        return created.done

    @contextmanager
    def create_output(self, rel: str) -> Iterator["Created"]:
        """Like :meth:`put_if_absent`, streamed: write to ``created.stream`` in the block; after
        it, ``created.done`` says whether this call created ``rel`` (False: the name was taken)."""
        if not self.is_local:
            raise NotImplementedError(f"put_if_absent needs a local disk or S3, not {self.fs.type_name}")
        target = self.path(rel)
        tmp = self.temp_path(rel)
        created = Created()
        try:
            try:
                with self.fs.open_output_stream(tmp) as out:
                    created.stream = out
                    yield created
                self._fsync(tmp)
                link: Callable[[str, str], None] = getattr(self._handler, "link", os.link)
                link(tmp, target)
            finally:
                try:
                    self.fs.delete_file(tmp)
                except Exception:  # best effort (may never have been created): the outcome is what matters
                    pass
        except FileExistsError:
            return
        except OSError as exc:
            raise write_error(exc, target) from exc
        try:
            self._fsync(os.path.dirname(target))
        except OSError as exc:
            raise write_error(exc, target, maybe_committed=True) from exc
        created.done = True

    @contextmanager
    def atomic_output(self, rel: str) -> Iterator[pa.NativeFile]:
        """A stream to write ``rel`` through: published (fsync, rename, fsync the folder) when the
        block ends, removed when it raises, so a failed write leaves no temporary behind.

        I/O errors come out as :class:`DiskFullError` / :class:`StorageWriteError`.
        """
        target = self.path(rel)
        tmp = f"{target}.{uuid.uuid4().hex}.tmp"
        try:
            with self.fs.open_output_stream(tmp) as out:
                yield out
            self.publish(tmp, target)
        except BaseException as exc:
            try:
                self.fs.delete_file(tmp)
            except Exception:  # best effort (often already renamed): the original error is what matters
                pass
            if isinstance(exc, OSError):
                raise write_error(exc, target) from exc
            raise

    def publish(self, tmp_abs: str, target_abs: str) -> None:
        """fsync a finished temporary file, rename it to its final name (atomic on POSIX), fsync
        the folder. If that last fsync fails the write is not known durable: the rename is taken
        back (the file removed, or a replaced file's old bytes put back) and the error raised."""
        previous = self._previous(target_abs) if self._syncs else None
        self._fsync(tmp_abs)
        self.fs.move(tmp_abs, target_abs)
        try:
            self._fsync(os.path.dirname(target_abs))
        except OSError as exc:
            undone = self._undo_publish(target_abs, previous)
            raise write_error(exc, target_abs, maybe_committed=not undone) from exc

    def temp_path(self, rel: str) -> str:
        return f"{self.path(rel)}.{uuid.uuid4().hex}.tmp"

    def delete_file(self, rel: str) -> None:
        try:
            self.fs.delete_file(self.path(rel))
        except FileNotFoundError:
            pass

    def delete_dir(self, rel_dir: str) -> None:
        try:
            self.fs.delete_dir(self.path(rel_dir))
        except FileNotFoundError:
            pass

    # -- durability ----------------------------------------------------------------------
    @property
    def _syncs(self) -> bool:
        return self.durable and (isinstance(self.fs, pafs.LocalFileSystem) or hasattr(self._handler, "fsync"))

    def _fsync(self, abs_path: str) -> None:
        if not self._syncs:
            return
        sync: Optional[Callable[[str], None]] = getattr(self._handler, "fsync", None)
        (sync or fsync_path)(abs_path)

    def _previous(self, target_abs: str) -> object:
        """What a publish replaces: _ABSENT, its bytes, or None when too large to keep."""
        info = self.fs.get_file_info(target_abs)
        if info.type == pafs.FileType.NotFound:
            return _ABSENT
        if info.size is None or info.size > _UNDO_LIMIT:
            return None
        try:
            with self.fs.open_input_stream(target_abs) as f:
                return f.read()
        except OSError:
            return None

    def _undo_publish(self, target_abs: str, previous: object) -> bool:
        """Take back a rename whose durability is unknown; True when the old state is back."""
        try:
            if previous is _ABSENT:
                self.fs.delete_file(target_abs)
                return True
            if isinstance(previous, bytes):
                tmp = f"{target_abs}.{uuid.uuid4().hex}.tmp"
                try:
                    with self.fs.open_output_stream(tmp) as out:
                        out.write(previous)
                    self.fs.move(tmp, target_abs)
                except BaseException:
                    try:
                        self.fs.delete_file(tmp)
                    except Exception:
                        pass
                    raise
                return True
        except Exception:  # the disk keeps failing: say that the write may be there
            pass
        return False


@dataclass(frozen=True)
class S3Storage(Storage):
    """A :class:`Storage` on S3-compatible object storage.

    ``fs`` is a ``pyarrow.fs.S3FileSystem`` and ``root`` is ``bucket/prefix``, so ``fs`` and
    :meth:`path` serve readers that want a pyarrow filesystem (and :meth:`open_input`'s random
    access, by ranged GETs). Everything else goes through ``objects`` (obstore): whole-object
    reads, puts, conditional puts, listings, existence checks and deletes. There are no folders
    (no marker objects); a write is one put, published when it completes, so fsync is moot.

    With a ``cache``, files that are never rewritten (:func:`~chroma_frame.storage.cache.cache_key`)
    are read from local copies (downloaded whole on first use, memory-mapped), and the ones this
    process uploads are kept there too, so reading them back costs no request.
    """

    durable: bool = False
    objects: "S3Objects" = field(kw_only=True, repr=False)
    cache: Optional[FileCache] = field(default=None, kw_only=True, repr=False)

    def uri(self, rel: str) -> str:
        return f"s3://{self.path(rel)}"

    def _key(self, rel: str) -> str:
        return self.objects.config.key(rel)

    def _key_of(self, abs_path: str) -> str:
        return abs_path.split("/", 1)[1] if "/" in abs_path else ""  # "bucket/key" -> "key"

    # -- reading -------------------------------------------------------------------------
    @contextmanager
    def _reading(self, rel: str) -> Iterator[None]:
        """Report an object store's failure while reading ``rel`` as the Chroma error for it."""
        try:
            yield
        except OSError as exc:
            raise read_error(exc, self.uri(rel)) from exc

    def read_bytes(self, rel: str) -> bytes:
        try:
            cached = self._cached(rel)
            if cached is not None:
                with cached:
                    return cached.read()
            return self.objects.get(self._key(rel))  # one GET (a pyarrow stream would range-read it)
        except OSError as exc:
            raise read_error(exc, self.uri(rel)) from exc

    def open_input(self, rel: str) -> pa.NativeFile:
        try:
            cached = self._cached(rel)
            if cached is not None:
                return cached
            return self.fs.open_input_file(self.path(rel))  # random access by ranged GETs
        except OSError as exc:
            raise read_error(exc, self.uri(rel)) from exc

    def _cached(self, rel: str) -> Optional[pa.MemoryMappedFile]:
        """``rel`` memory-mapped from the cache (downloaded first on a miss), or None when it is
        not cached: rewritable, too large, or no cache."""
        key = cache_key(rel)
        if self.cache is None or key is None:
            return None
        return self.cache.open(key, lambda: Fetched(*self.objects.get_stream(self._key(rel))))

    def _keep(self, rel: str, size: int, chunks: Iterable[bytes | pa.Buffer]) -> None:
        """After an upload: keep a copy of the bytes in the cache when ``rel`` is cacheable (a
        log entry just appended, a blockfile just compacted is read back next), else make sure
        no stale copy stays."""
        key = cache_key(rel)
        if self.cache is not None and key is not None:
            mapped = self.cache.store(key, Fetched(size, None, chunks))
            if mapped is None:
                self.cache.discard(key)
            else:
                mapped.close()

    def vouches(self, rel: str, checksum: str) -> bool:
        """Whether the cache verified its copy of ``rel`` and downloaded it with CRC-32C ``checksum``
        (see :func:`~chroma_frame.storage.integrity.verified_before`)."""
        key = cache_key(rel)
        return self.cache is not None and key is not None and self.cache.vouches(key, checksum)

    def exists(self, rel: str) -> bool:
        with self._reading(rel):
            return self.objects.exists(self._key(rel))

    def list_names(self, rel_dir: str) -> list[str]:
        with self._reading(rel_dir):
            return self.objects.list_children(self._key(rel_dir))

    def list_names_after(self, rel_dir: str, after: str) -> list[str]:
        with self._reading(rel_dir):
            return sorted(self.objects.list_after(self._key(rel_dir), after))

    def has_files(self, rels: list[str]) -> list[bool]:
        if len(rels) < 2:
            return [self.has_file(rel) for rel in rels]
        return list(_requests().map(self.has_file, rels))

    def list_entries(self, rel_dir: str) -> list[FileEntry]:
        with self._reading(rel_dir):
            return [FileEntry(name, size, mtime) for name, size, mtime in self.objects.list_objects(self._key(rel_dir))]

    def size(self, rel: str) -> Optional[int]:
        with self._reading(rel):
            return self.objects.size(self._key(rel))

    # -- writing -------------------------------------------------------------------------
    def makedirs(self, rel_dir: str) -> None:
        """Nothing to do: a key's 'folders' exist while keys are under them."""

    def write_atomic(self, rel: str, data: bytes | pa.Buffer) -> None:
        try:
            self.objects.put(self._key(rel), data)
        except OSError as exc:
            raise write_error(exc, self.uri(rel)) from exc
        self._keep(rel, len(data), [data])

    @contextmanager
    def atomic_output(self, rel: str) -> Iterator[pa.NativeFile]:
        """A stream buffered in memory (on a temporary local file past 64 MB), uploaded in one
        put when the block ends; nothing is uploaded when it raises. (Arrow's own S3 output
        stream would publish what was written so far when closed by an exception.)"""
        try:
            with tempfile.SpooledTemporaryFile(max_size=_SPILL_SIZE) as spool:
                yield pa.PythonFile(spool, mode="w")
                size = spool.seek(0, os.SEEK_END)
                spool.seek(0)
                self.objects.put(self._key(rel), spool)
                spool.seek(0)
                self._keep(rel, size, iter(lambda: spool.read(_SPILL_SIZE), b""))
        except OSError as exc:
            raise write_error(exc, self.uri(rel)) from exc

    def publish(self, tmp_abs: str, target_abs: str) -> None:
        """Copy on the server, then delete the temporary (Arrow's S3 move would leave a folder
        marker behind); nothing to sync or to undo."""
        try:
            self.objects.copy(self._key_of(tmp_abs), self._key_of(target_abs))
            self.objects.delete(self._key_of(tmp_abs))
        except OSError as exc:
            raise write_error(exc, f"s3://{target_abs}") from exc
        key = cache_key(target_abs[len(self.root) + 1:]) if target_abs.startswith(f"{self.root}/") else None
        if self.cache is not None and key is not None:
            self.cache.discard(key)

    def put_if_absent(self, rel: str, data: bytes | pa.Buffer) -> bool:
        """One conditional put (``If-None-Match: *``): S3 creates the object whole or answers 412."""
        try:
            created = self.objects.put_if_absent(self._key(rel), data)
        except OSError as exc:
            raise write_error(exc, self.uri(rel)) from exc
        if created:
            self._keep(rel, len(data), [data])
        return created

    @contextmanager
    def create_output(self, rel: str) -> Iterator[Created]:
        """Buffered like :meth:`atomic_output`, then one conditional put."""
        created = Created()
        with tempfile.SpooledTemporaryFile(max_size=_SPILL_SIZE) as spool:
            created.stream = pa.PythonFile(spool, mode="w")
            yield created
            spool.seek(0)
            data = spool.read()  # a conditional put takes bytes (obstore streams only plain puts)
        created.done = self.put_if_absent(rel, data)

    def has_file(self, rel: str) -> bool:
        with self._reading(rel):
            return self.objects.exists_object(self._key(rel))

    def delete_file(self, rel: str) -> None:
        try:
            self.objects.delete(self._key(rel))
        except OSError as exc:
            raise write_error(exc, self.uri(rel)) from exc
        key = cache_key(rel)
        if self.cache is not None and key is not None:
            self.cache.discard(key)

    def delete_dir(self, rel_dir: str) -> None:
        try:
            self.objects.delete_prefix(self._key(rel_dir))
        except OSError as exc:
            raise write_error(exc, self.uri(rel_dir)) from exc
        if self.cache is not None:
            self.cache.discard_dir(rel_dir)
