"""The manifest: which blockfiles make up a collection and how much of the log they cover.

Manifests are numbered and immutable: ``manifests/<n>.json`` is created once, whole, by a
create-if-absent write (:mod:`chroma_frame.storage.series`), and the newest is the current one. A
compaction that finds its number taken lost a race to another compaction and gives up. Each
carries a ``crc32c`` over its content and lists each blockfile with its row count, size and
CRC-32C, which the reader checks before trusting the blockfile's bytes.

Collections written before format 3 have one ``manifest.json``, replaced in place at each
compaction; it is read as the manifest of its version until the first new one is created.
Format 1 manifests (plain paths, no checksum) are still read.

A blockfile of another collection (a fork's, shared, never written) is listed as
``../<collection id>/blocks/<name>.arrow``.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from chroma_frame.errors import InternalError
from chroma_frame.storage.fs import Storage
from chroma_frame.storage.integrity import CorruptFileError, json_with_checksum, load_checked_json
from chroma_frame.storage.series import WIDTH, Series

MANIFEST = "manifest.json"  # before format 3: the one manifest, replaced in place
MANIFESTS_DIR = "manifests"
FORMAT = 3  # 3: numbered immutable manifests; 2: checksummed, blockfiles with size and crc32c, sealed log entries
LEGACY_FORMAT = 1
_SHARED = re.compile(r"\.\./[A-Za-z0-9_-]+/blocks/[^/]+\.arrow")


class BlockRef(str):
    """A blockfile's path (relative to the collection) with what the manifest says it holds.

    A ``str`` so that every reader of ``Manifest.blockfiles`` keeps working with paths; the
    fields are None for a blockfile listed by a format 1 manifest.
    """

    rows: int | None
    size: int | None
    crc32c: int | None
    dimension: int | None

    def __new__(cls, path: str, *, rows: int | None = None, size: int | None = None,
                crc32c: int | None = None, dimension: int | None = None) -> "BlockRef":
        ref = super().__new__(cls, path)
        ref.rows, ref.size, ref.crc32c, ref.dimension = rows, size, crc32c, dimension
        return ref

    @property
    def checked(self) -> bool:
        return self.crc32c is not None and self.size is not None

    def to_json(self) -> dict[str, Any] | str:
        if not self.checked:
            return str(self)
        return {"path": str(self), "rows": self.rows, "bytes": self.size, "crc32c": f"{self.crc32c:08x}"}


@dataclass(frozen=True)
class Manifest:
    version: int = 0
    log_upto: int = 0  # every log entry with seq <= log_upto is folded into the blockfiles
    dimension: int | None = None
    blockfiles: tuple[str, ...] = field(default_factory=tuple)  # BlockRef when read or written by us
    format: int = FORMAT
    created: float | None = None  # seconds since the epoch
    operation: str = "compact"  # "create", "compact", "fork"
    records: int | None = None  # live records of the state it describes
    forked_from: dict[str, Any] | None = None  # {"collection": id, "version": n} for a fork's first manifest

    def to_json(self) -> bytes:
        blockfiles = [b.to_json() if isinstance(b, BlockRef) else str(b) for b in self.blockfiles]
        doc: dict[str, Any] = {"version": self.version, "log_upto": self.log_upto, "dimension": self.dimension,
                               "blockfiles": blockfiles, "format": self.format, "operation": self.operation,
                               "created": self.created if self.created is not None else time.time()}
        if self.forked_from is not None:
            doc["forked_from"] = self.forked_from
        if self.records is not None:
            doc["records"] = self.records
        return json_with_checksum(doc)


def manifests(storage: Storage, prefix: str) -> Series:
    return Series(storage, f"{prefix}/{MANIFESTS_DIR}", ".json")


def newest_number(storage: Storage, prefix: str, seen: int | None = None) -> int | None:
    """The number of the current manifest (``seen``: one this process saw, to walk forward
    from); None when the collection has only a legacy ``manifest.json`` or none."""
    return manifests(storage, prefix).latest(seen)


def read_manifest(storage: Storage, prefix: str, seen: int | None = None) -> Manifest:
    """The current manifest: the newest numbered one, else the legacy ``manifest.json``, else an
    empty one (version 0)."""
    number = newest_number(storage, prefix, seen)
    if number is not None:
        try:
            return read_manifest_number(storage, prefix, number)
        except FileNotFoundError:  # removed since (vacuum keeps the newest: a newer one exists)
            return read_manifest(storage, prefix)
    rel = f"{prefix}/{MANIFEST}"
    try:
        data = storage.read_bytes(rel)
    except FileNotFoundError:
        return Manifest()
    return parse_manifest(data, storage.path(rel))


def read_manifest_number(storage: Storage, prefix: str, number: int) -> Manifest:
    """Manifest ``number``; FileNotFoundError when it is not there (never made, or vacuumed)."""
    series = manifests(storage, prefix)
    rel = series.name(number)
    manifest = parse_manifest(series.read(number), storage.path(rel))
    if manifest.version != number:
        raise CorruptFileError(storage.path(rel), f"says it is version {manifest.version}")
    return manifest


def manifest_path(prefix: str, number: int | None) -> str:
    """Where manifest ``number`` lives (None: the legacy file), for messages."""
    return f"{prefix}/{MANIFEST}" if number is None else f"{prefix}/{MANIFESTS_DIR}/{number:0{WIDTH}d}.json"


def parse_manifest(data: bytes, path: str) -> Manifest:
    """A manifest from its bytes; raises CorruptFileError (naming ``path``) when it is damaged."""
    try:
        peek = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptFileError(path, f"not valid JSON ({exc})") from None
    # Only a format 1 manifest may lack the checksum; one that has it is always checked, so a
    # damaged "format" can neither turn the check off nor pass for a newer version.
    legacy = isinstance(peek, dict) and peek.get("format", LEGACY_FORMAT) == LEGACY_FORMAT
    raw = load_checked_json(data, path, required=not legacy)
    try:
        fmt = _int(raw.get("format", LEGACY_FORMAT))
        if fmt > FORMAT:
            raise InternalError(f"{path} was written by a newer chroma-frame (format {fmt}); "
                                f"this version reads up to {FORMAT}")
        dimension = raw.get("dimension")
        dimension = None if dimension is None else _int(dimension)
        blocks = tuple(block_ref(b, dimension) for b in raw.get("blockfiles", ()))
        created = raw.get("created")
        forked = raw.get("forked_from")
        # unknown keys of a known format are optional additions: ignored
        return Manifest(version=_int(raw.get("version", 0)), log_upto=_int(raw.get("log_upto", 0)),
                        dimension=dimension, blockfiles=blocks, format=fmt,
                        created=float(created) if isinstance(created, (int, float)) else None,
                        operation=str(raw.get("operation", "compact")),
                        records=raw["records"] if isinstance(raw.get("records"), int) else None,
                        forked_from=forked if isinstance(forked, dict) else None)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise CorruptFileError(path, f"unexpected content ({exc})") from None


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a non-negative integer, found {value!r}")
    return value


def block_ref(entry: Any, dimension: int | None) -> BlockRef:
    """A blockfile entry of a manifest (or of an attach commit) as a BlockRef; ValueError when malformed."""
    if isinstance(entry, str):  # format 1: the path only
        return BlockRef(_block_path(entry), dimension=dimension)
    crc = entry["crc32c"]
    if not isinstance(crc, str):
        raise ValueError(f"crc32c {crc!r} is not a hex string")
    return BlockRef(_block_path(entry["path"]), rows=_int(entry["rows"]), size=_int(entry["bytes"]),
                    crc32c=int(crc, 16), dimension=dimension)


def _block_path(path: Any) -> str:
    if not isinstance(path, str) or not (
            (path.startswith("blocks/") and ".." not in path and path.endswith(".arrow"))
            or _SHARED.fullmatch(path)):
        raise ValueError(f"blockfile path {path!r}")
    return path


def is_shared(rel: str) -> bool:
    """Whether a blockfile belongs to another collection (a fork lists its source's)."""
    return str(rel).startswith("../")


def create_manifest(storage: Storage, prefix: str, manifest: Manifest) -> bool:
    """Create manifest ``manifest.version``; False when that number exists (a lost race)."""
    series = manifests(storage, prefix)
    try:
        return series.create(manifest.version, manifest.to_json())
    except FileNotFoundError:  # a collection of an older chroma-frame gets the folder; a deleted one does not
        if not storage.exists(f"{prefix}/log"):
            raise
        storage.makedirs(series.folder)
        return series.create(manifest.version, manifest.to_json())


def exists(storage: Storage, prefix: str) -> bool:
    """Whether the collection has a manifest (numbered or legacy)."""
    return newest_number(storage, prefix) is not None or storage.exists(f"{prefix}/{MANIFEST}")
