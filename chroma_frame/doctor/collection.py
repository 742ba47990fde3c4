"""Check and repair one collection folder, through the same readers the library uses.

Every file is verified by its own reader (``read_manifest``, ``Log.read``, ``read_blockfile``,
``load_graph``, ``load_postings``), so the doctor checks exactly what a query would trust.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from chroma_frame.doctor.report import ERROR, WARNING, Report
from chroma_frame.errors import InternalError
from chroma_frame.index.graph import CorruptIndex, graph_nodes, load_graph
from chroma_frame.sparse.files import load_postings, postings_path
from chroma_frame.sparse.postings import CorruptPostings
from chroma_frame.storage.blockfile import BLOCK_DIR, read_blockfile
from chroma_frame.storage.consistency import manifest_problems, unlisted_blockfiles
from chroma_frame.storage.fs import Storage
from chroma_frame.storage.integrity import CorruptFileError
from chroma_frame.storage.jobs import active_jobs, job_of
from chroma_frame.storage.log import LOG_DIR, SUFFIX, Log
from chroma_frame.storage.manifest import (
    BlockRef,
    Manifest,
    is_shared,
    manifest_path,
    manifests,
    newest_number,
    read_manifest,
    read_manifest_number,
)

# what a reader raises on a damaged file, whichever layer notices first
DAMAGE = (CorruptFileError, CorruptIndex, CorruptPostings, pa.ArrowException, ValueError, EOFError)
RESTORE = "restore the collection folder from a backup"


@dataclass
class Inspection:
    """What :func:`inspect` learnt about one collection, for :func:`repair`."""

    prefix: str
    manifest: Manifest | None = None  # None when unreadable
    trusted: bool = False  # manifest readable and consistent: files it does not list are debris
    lost_tail: list[int] = field(default_factory=list)  # damaged log entries after the last good one
    beyond_repair: bool = False  # damage only a backup fixes: then nothing is dropped (it may be salvaged)
    stale: list[str] = field(default_factory=list)  # deletable: damaged derived files, debris (rel paths)
    space: str | None = None  # the distance space its graphs were built for, if any
    manifest_bytes: bytes | None = None  # as read at the start of the inspection


def _damaged(exc: BaseException) -> str:
    return exc.reason if isinstance(exc, CorruptFileError) else f"{type(exc).__name__}: {exc}"


def inspect(storage: Storage, collection_id: str, report: Report) -> Inspection:
    """Verify every file of ``collections/<id>``, adding what is wrong to ``report``. Read-only."""
    prefix = f"collections/{collection_id}"
    for _ in range(3):  # a compaction by a live writer can change the files between our reads
        ins, found = Inspection(prefix), Report(report.root)
        _inspect(storage, ins, found)
        if not found.errors or _manifest_bytes(storage, prefix) == ins.manifest_bytes:
            break
    ins.beyond_repair = any(p.severity == ERROR and p.fix is None for p in found.problems)
    report.problems += found.problems
    report.checked.update(found.checked)
    return ins


def _manifest_bytes(storage: Storage, prefix: str) -> bytes | None:
    try:
        return storage.read_bytes(_manifest_rel(storage, prefix))
    except FileNotFoundError:
        return None


def _manifest_rel(storage: Storage, prefix: str) -> str:
    """Where the current manifest is: the newest numbered one, else the legacy file."""
    return manifest_path(prefix, newest_number(storage, prefix))


def _listed_by_kept_versions(storage: Storage, prefix: str) -> set[str]:
    """Stems of the blockfiles any kept manifest lists (history: not debris)."""
    series = manifests(storage, prefix)
    stems: set[str] = set()
    for number in series.numbers():
        try:
            refs = read_manifest_number(storage, prefix, number).blockfiles
        except (FileNotFoundError, *DAMAGE):
            continue
        stems |= {str(ref).rsplit("/", 1)[-1].split(".", 1)[0] for ref in refs if not is_shared(ref)}
    log = Log(storage, prefix)
    for seq in log.sequences():  # blockfiles a bulk job's commit attached, before a manifest lists them
        try:
            stems |= {str(ref).rsplit("/", 1)[-1].split(".", 1)[0] for ref in log.commit(seq).attach}
        except (FileNotFoundError, *DAMAGE):
            continue
    jobs = active_jobs(storage, prefix)  # a bulk job still running: its blockfiles are not listed yet
    stems |= {e.name.split(".", 1)[0] for e in storage.list_entries(f"{prefix}/{BLOCK_DIR}")
              if job_of(e.name.split(".", 1)[0]) in jobs}
    return stems


def _inspect(storage: Storage, ins: Inspection, report: Report) -> None:
    prefix = ins.prefix
    ins.manifest_bytes = _manifest_bytes(storage, prefix)
    where = storage.path
    report.checked["collections"] += 1

    files = {e.name for e in storage.list_entries(prefix)}
    subdirs = [""] + [f"/{name}" for name in storage.list_names(prefix) if name not in files]
    for sub in subdirs:
        for name in storage.list_names(prefix + sub):
            if name.endswith(".tmp"):
                rel = f"{prefix}{sub}/{name}"
                ins.stale.append(rel)
                report.add(WARNING, where(rel), "temporary file left by an interrupted write", "delete it")

    try:
        manifest = ins.manifest = read_manifest(storage, prefix)
    except CorruptFileError as exc:
        report.add(ERROR, exc.path, f"damaged manifest: {exc.reason}; {RESTORE}")
    except InternalError as exc:
        report.add(ERROR, where(_manifest_rel(storage, prefix)), str(exc))
    upto = manifest.log_upto if ins.manifest else 0

    # -- the log --
    seqs, bad, dims, keys = [], [], set(), set()
    if storage.exists(f"{prefix}/{LOG_DIR}"):  # (Log() would create it)
        log = Log(storage, prefix)
        seqs = log.sequences()
        for seq in seqs:
            report.checked["log entries"] += 1
            try:
                table = log.read(seq)
            except DAMAGE as exc:
                bad.append((seq, _damaged(exc)))
                continue
            dims.add((seq, _width(table.schema)))
            if seq > upto:
                keys |= _sparse_keys(table)
    good_above = [s for s in seqs if s > upto and s not in {b for b, _ in bad}]
    last_good = max(good_above, default=upto)
    for seq, reason in bad:
        rel = f"{prefix}/{LOG_DIR}/{seq:020d}{SUFFIX}"
        if seq <= upto:
            ins.stale.append(rel)
            report.add(WARNING, where(rel), f"damaged log entry {seq}, already folded into blockfiles ({reason})",
                       f"delete it (its rows are in the blockfiles; versions up to {seq} can no longer be read)")
        elif ins.manifest is None:
            report.add(ERROR, where(rel), f"damaged log entry {seq} ({reason}), and the manifest is unreadable: "
                       f"{RESTORE}")
        elif seq > last_good:
            ins.lost_tail.append(seq)
            report.add(ERROR, where(rel), f"damaged log entry {seq} at the end of the log ({reason})",
                       "drop the damaged end of the log: the acknowledged writes it holds are LOST")
        else:
            report.add(ERROR, where(rel), f"damaged log entry {seq} followed by good entries ({reason}); "
                       f"the later writes build on it, so it cannot be dropped: {RESTORE}")
    if ins.manifest is not None and manifest.dimension is not None:
        for seq, width in dims:
            if seq > upto and width is not None and width != manifest.dimension:
                report.add(ERROR, where(f"{prefix}/{LOG_DIR}/{seq:020d}{SUFFIX}"),
                           f"log entry {seq} holds embeddings of dimension {width}, the manifest says "
                           f"{manifest.dimension}; {RESTORE}")
    if ins.manifest is None:
        return

    # -- manifest against the other files --
    manifest_at = where(_manifest_rel(storage, prefix))
    reasons = manifest_problems(storage, prefix, manifest, [s for s in seqs if s > upto])
    for reason in reasons:
        report.add(ERROR, manifest_at, f"inconsistent manifest: {reason}; {RESTORE} "
                   "(blockfiles it does not list are kept)")
    ins.trusted = not reasons

    # -- blockfiles and what is derived from them --
    tables: dict[str, pa.Table] = {}
    for ref in manifest.blockfiles:
        report.checked["blockfiles"] += 1
        try:
            table = tables[str(ref)] = read_blockfile(storage, prefix, ref, recheck=True)
        except FileNotFoundError:
            continue  # reported as inconsistent above
        except DAMAGE as exc:
            report.add(ERROR, where(f"{prefix}/{ref}"), f"damaged blockfile ({_damaged(exc)}); {RESTORE}")
            continue
        top = pc.max(table.column("seq")).as_py() if table.num_rows else None
        if top is not None and top > upto:
            ins.trusted = False
            report.add(ERROR, manifest_at, f"inconsistent manifest: says log_upto {upto} but "
                       f"{ref} holds rows of write {top}; {RESTORE}")
    history = _listed_by_kept_versions(storage, prefix)
    if ins.trusted:
        for rel in unlisted_blockfiles(storage, prefix, manifest):
            if rel.rsplit("/", 1)[-1].split(".", 1)[0] in history:
                continue  # a blockfile of a past version, kept until vacuum
            ins.stale.append(f"{prefix}/{rel}")
            report.add(WARNING, where(f"{prefix}/{rel}"), "blockfile not listed in the manifest "
                       "(left by an interrupted compaction)", "delete it")

    for table in tables.values():
        keys |= _sparse_keys(table)
    by_uuid = {str(ref).rsplit("/", 1)[-1].split(".", 1)[0]: ref for ref in manifest.blockfiles}
    for name in storage.list_names(f"{prefix}/{BLOCK_DIR}"):
        parts = name.split(".")
        rel = f"{BLOCK_DIR}/{name}"
        kind = "graph" if name.endswith(".graph.npz") else "postings" if ".sparse." in name else None
        if kind is None:
            continue
        block = by_uuid.get(parts[0])
        if block is None:
            if ins.trusted and parts[0] not in history:
                ins.stale.append(f"{prefix}/{rel}")
                report.add(WARNING, where(f"{prefix}/{rel}"), f"{kind} file of a blockfile the manifest no longer "
                           "lists", "delete it")
            continue
        table = tables.get(str(block))
        rows = table.num_rows if table is not None else block.rows if isinstance(block, BlockRef) else None
        dimension = _width(table.schema) if table is not None else manifest.dimension
        if rows is None or dimension is None:
            continue  # its blockfile is unreadable and unlisted details: nothing to check it against
        try:
            if kind == "graph":
                report.checked["graphs"] += 1
                ins.space = ins.space or parts[1]
                load_graph(storage, prefix, block, rows=rows, dimension=dimension, space=parts[1],
                           nodes=graph_nodes(table) if table is not None else None, recheck=True)
            else:
                key = next((k for k in keys if postings_path(str(block), k) == rel), None)
                if key is None:
                    continue  # a key no record holds any more: nothing to check it against
                report.checked["postings"] += 1
                load_postings(storage, prefix, block, key, n_rows=rows)
        except DAMAGE as exc:
            ins.stale.append(f"{prefix}/{rel}")
            if getattr(exc, "outdated", False):  # intact, of an older format: queries rebuild it
                report.add(WARNING, where(f"{prefix}/{rel}"), f"{kind} file of an older format ({exc})",
                           "delete it (derived data: rebuilt when next needed)")
                continue
            report.add(ERROR, where(f"{prefix}/{rel}"), f"damaged {kind} file ({_damaged(exc)})",
                       "delete it (derived data: rebuilt when next needed)")


def repair(storage: Storage, ins: Inspection, report: Report) -> None:
    """Fix what :func:`inspect` found repairable; call it under the collection's write lock."""
    if ins.lost_tail and ins.beyond_repair:
        report.actions.append(
            f"{storage.path(ins.prefix)}: damaged end of the log NOT dropped: the collection has damage "
            f"--repair cannot fix; {RESTORE} (or salvage what you can first)")
    elif ins.lost_tail:
        log_dir = f"{ins.prefix}/{LOG_DIR}"
        for seq in sorted(ins.lost_tail, reverse=True):  # newest first: an interruption leaves no gap
            storage.delete_file(f"{log_dir}/{seq:020d}{SUFFIX}")
        n, first, last = len(ins.lost_tail), min(ins.lost_tail), max(ins.lost_tail)
        report.actions.append(
            f"{storage.path(log_dir)}: dropped {n} damaged log entr{'y' if n == 1 else 'ies'} ({first}..{last}) "
            f"at the end of the log: {n} acknowledged write(s) are LOST")
    for rel in ins.stale:
        if storage.exists(rel):
            storage.delete_file(rel)
            report.actions.append(f"{storage.path(rel)}: deleted")


def _width(schema: pa.Schema) -> int | None:
    index = schema.get_field_index("embedding")
    kind = schema.field(index).type if index >= 0 else None
    return kind.list_size if kind is not None and pa.types.is_fixed_size_list(kind) else None


def _sparse_keys(table: pa.Table) -> set[str]:
    """The metadata keys holding sparse vectors in ``table`` (the keys postings are built for)."""
    if "metadata" not in table.column_names:
        return set()
    flat = pc.list_flatten(table.column("metadata"))
    kind = flat.type
    if not any(kind.field(i).name == "sparse_indices" for i in range(kind.num_fields)):
        return set()
    mask = pc.is_valid(pc.struct_field(flat, "sparse_indices"))
    return set(pc.unique(pc.filter(pc.struct_field(flat, "key"), mask)).to_pylist())
