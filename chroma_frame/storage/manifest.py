"""The manifest: which blockfiles make up a collection and how much of the log they cover.

``manifest.json`` is replaced atomically (write new, fsync, rename) at each compaction, so a
reader sees the old set of blockfiles or the new one, never a mix.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from chroma_frame.storage.fs import Storage

MANIFEST = "manifest.json"
FORMAT = 1


@dataclass(frozen=True)
class Manifest:
    version: int = 0
    log_upto: int = 0  # every log entry with seq <= log_upto is folded into the blockfiles
    dimension: int | None = None
    blockfiles: tuple[str, ...] = field(default_factory=tuple)
    format: int = FORMAT

    def to_json(self) -> bytes:
        return json.dumps({**asdict(self), "blockfiles": list(self.blockfiles)}, indent=1).encode()


def read_manifest(storage: Storage, prefix: str) -> Manifest:
    try:
        raw = json.loads(storage.read_bytes(f"{prefix}/{MANIFEST}"))
    except FileNotFoundError:
        return Manifest()
    raw["blockfiles"] = tuple(raw.get("blockfiles", ()))
    return Manifest(**raw)


def write_manifest(storage: Storage, prefix: str, manifest: Manifest) -> None:
    storage.write_atomic(f"{prefix}/{MANIFEST}", manifest.to_json())
