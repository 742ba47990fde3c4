"""The manifest: which blockfiles make up a collection and how much of the log they cover.

``manifest.json`` is replaced atomically (write new, fsync, rename) at each compaction, so a
reader sees the old set of blockfiles or the new one, never a mix. Since format 2 it carries a
``crc32c`` over its content and lists each blockfile with its row count, size and CRC-32C, which
the reader checks before trusting the blockfile's bytes. Format 1 manifests (plain paths, no
checksum) are still read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from chroma_frame.errors import InternalError
from chroma_frame.storage.fs import Storage
from chroma_frame.storage.integrity import CorruptFileError, json_with_checksum, load_checked_json

MANIFEST = "manifest.json"
FORMAT = 2  # 2: checksummed manifest, blockfile entries with size and crc32c, sealed log entries
LEGACY_FORMAT = 1


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

    def to_json(self) -> bytes:
        blockfiles = [b.to_json() if isinstance(b, BlockRef) else str(b) for b in self.blockfiles]
        return json_with_checksum({"version": self.version, "log_upto": self.log_upto, "dimension": self.dimension,
                                   "blockfiles": blockfiles, "format": self.format})


def read_manifest(storage: Storage, prefix: str) -> Manifest:
    rel = f"{prefix}/{MANIFEST}"
    try:
        data = storage.read_bytes(rel)
    except FileNotFoundError:
        return Manifest()
    return parse_manifest(data, storage.path(rel))


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
        blocks = tuple(_block(b, dimension) for b in raw.get("blockfiles", ()))
        # unknown keys of a known format are optional additions: ignored
        return Manifest(version=_int(raw.get("version", 0)), log_upto=_int(raw.get("log_upto", 0)),
                        dimension=dimension, blockfiles=blocks, format=fmt)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise CorruptFileError(path, f"unexpected content ({exc})") from None


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a non-negative integer, found {value!r}")
    return value


def _block(entry: Any, dimension: int | None) -> BlockRef:
    if isinstance(entry, str):  # format 1: the path only
        return BlockRef(_block_path(entry), dimension=dimension)
    crc = entry["crc32c"]
    if not isinstance(crc, str):
        raise ValueError(f"crc32c {crc!r} is not a hex string")
    return BlockRef(_block_path(entry["path"]), rows=_int(entry["rows"]), size=_int(entry["bytes"]),
                    crc32c=int(crc, 16), dimension=dimension)


def _block_path(path: Any) -> str:
    if not isinstance(path, str) or not path.startswith("blocks/") or ".." in path or not path.endswith(".arrow"):
        raise ValueError(f"blockfile path {path!r}")
    return path


def write_manifest(storage: Storage, prefix: str, manifest: Manifest) -> None:
    storage.write_atomic(f"{prefix}/{MANIFEST}", manifest.to_json())


def exists(storage: Storage, prefix: str) -> bool:
    return storage.exists(f"{prefix}/{MANIFEST}")


# -- version markers: one stat tells a reader whether a compaction happened since it looked ------
VERSIONS_DIR = "versions"


def version_marker(prefix: str, version: int) -> str:
    """``versions/<version>``: an empty file that exists while ``version`` is the current one.

    A compaction creates the new version's marker before it publishes the manifest, and deletes
    every other marker before it deletes any log entry it folded: a reader that, after looking at
    the log, still finds the marker of the version it holds has missed no compaction (and the
    collection still exists).
    """
    return f"{prefix}/{VERSIONS_DIR}/{version:020d}"


def publish_version(storage: Storage, prefix: str, version: int) -> None:
    storage.makedirs(f"{prefix}/{VERSIONS_DIR}")
    storage.write_atomic(version_marker(prefix, version), b"")


def retire_versions(storage: Storage, prefix: str, keep: int) -> None:
    """Delete every version marker but ``keep``'s (call before deleting folded log entries)."""
    for name in storage.list_names(f"{prefix}/{VERSIONS_DIR}"):
        if name != f"{keep:020d}":
            storage.delete_file(f"{prefix}/{VERSIONS_DIR}/{name}")
