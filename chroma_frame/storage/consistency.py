"""Does a collection's manifest fit its files? Checked whenever a reader takes a new manifest.

Each file may be intact (its checksum verifies) and the whole still be wrong: a manifest that
lists no blockfiles while its ``log_upto`` says the log was folded into some, a ``log_upto`` the
log does not continue from, a dimension the blockfiles do not have. Reading such a collection
would silently hide or garble records, so the reader refuses with :class:`InconsistentCollection`.

A concurrent compaction can make a reader see a new log with an old manifest for a moment; an
anomaly therefore only counts when the manifest, read again, is still the same one (compaction
creates the new manifest before vacuum deletes anything).
"""

from __future__ import annotations

from typing import Sequence

import pyarrow as pa

from chroma_frame.errors import InternalError
from chroma_frame.storage.blockfile import BLOCK_DIR
from chroma_frame.storage.fs import Storage
from chroma_frame.storage.integrity import CorruptFileError
from chroma_frame.storage.jobs import job_of
from chroma_frame.storage.manifest import Manifest, manifest_path, read_manifest


class InconsistentCollection(CorruptFileError):
    """The files of a collection contradict each other; the message names the manifest."""

    def __init__(self, path: str, reason: str, root: str = "<storage root>") -> None:
        InternalError.__init__(
            self, f"inconsistent collection files: {path} {reason}; refusing to read the collection "
                  f"(run `chroma-frame doctor --path {root}`)")
        self.path = path
        self.reason = reason


def manifest_problems(storage: Storage, prefix: str, manifest: Manifest, seqs: Sequence[int]) -> list[str]:
    """Why ``manifest`` does not fit the files of the collection at ``prefix`` (empty: it fits).

    ``seqs`` are the log entries above ``manifest.log_upto``, ascending. Costs a stat and a
    footer read per listed blockfile, and a listing when the manifest lists none.
    """
    reasons = []
    upto = manifest.log_upto
    if upto > 0 and not manifest.blockfiles:
        reasons.append(f"lists no blockfiles but says log entries 1..{upto} were folded into blockfiles")
    if upto == 0 and manifest.blockfiles and manifest.forked_from is None:  # a fork starts from blockfiles
        reasons.append("lists blockfiles but says no log entry was folded into them (log_upto 0)")
    if seqs and seqs[0] != upto + 1:
        gap = f"entry {upto + 1} is" if seqs[0] == upto + 2 else f"entries {upto + 1}..{seqs[0] - 1} are"
        reasons.append(f"says the log continues after entry {upto}, but it continues at entry {seqs[0]} "
                       f"({gap} missing)")
    elif seqs and seqs[-1] - seqs[0] + 1 != len(seqs):
        missing = next(a + 1 for a, b in zip(seqs, seqs[1:]) if b != a + 1)
        reasons.append(f"log entry {missing} is missing (the log has a gap)")
    # (a bulk job's blockfiles are unlisted until its commit: they say nothing about the manifest)
    if not manifest.blockfiles and not seqs and [rel for rel in unlisted_blockfiles(storage, prefix, manifest)
                                                 if job_of(rel.rsplit("/", 1)[-1].split(".", 1)[0]) is None]:
        reasons.append(f"lists no blockfiles and the log is empty, but {BLOCK_DIR}/ holds blockfiles")
    for rel in manifest.blockfiles:
        try:
            with storage.open_input(f"{prefix}/{rel}") as source:
                schema = pa.ipc.open_file(source).schema
        except FileNotFoundError:
            reasons.append(f"lists {rel}, which does not exist")
            continue
        except (pa.ArrowInvalid, OSError):
            continue  # a damaged blockfile: its reader says so, naming it
        width = _width(schema)
        if manifest.dimension is not None and width is not None and width != manifest.dimension:
            reasons.append(f"says dimension {manifest.dimension} but {rel} holds embeddings of dimension {width}")
    return reasons


def check_manifest(storage: Storage, prefix: str, manifest: Manifest, seqs: Sequence[int]) -> None:
    """Raise InconsistentCollection when ``manifest`` contradicts the collection's files.

    Raises FileNotFoundError when the manifest changed meanwhile (the caller starts over).
    """
    reasons = manifest_problems(storage, prefix, manifest, seqs)
    if not reasons:
        return
    if read_manifest(storage, prefix) != manifest:
        raise FileNotFoundError(f"{prefix}'s manifest changed under a reader")
    number = manifest.version if manifest.format >= 3 else None
    raise InconsistentCollection(storage.path(manifest_path(prefix, number)), "; ".join(reasons), storage.root)


def unlisted_blockfiles(storage: Storage, prefix: str, manifest: Manifest) -> list[str]:
    """Blockfiles (``blocks/<uuid>.arrow``, not their companions) the manifest does not list."""
    listed = {str(rel) for rel in manifest.blockfiles}
    return sorted(
        f"{BLOCK_DIR}/{name}" for name in storage.list_names(f"{prefix}/{BLOCK_DIR}")
        if name.endswith(".arrow") and name.count(".") == 1 and f"{BLOCK_DIR}/{name}" not in listed
    )


def _width(schema: pa.Schema) -> int | None:
    index = schema.get_field_index("embedding")
    if index < 0:
        return None
    kind = schema.field(index).type
    return kind.list_size if pa.types.is_fixed_size_list(kind) else None
