"""A collection's history: the versions it keeps, forks, and vacuum.

Every commit (log entry) is a version, numbered by its sequence number. Compaction does not
delete what it folds: superseded manifests, folded log entries and merged-away blockfiles stay,
so any kept version can be read again (``as_of``), restored, or forked. :func:`vacuum` lets go
of the versions older than a retention period and deletes the files no kept version (of this
collection or of a fork of it) lists.

Vacuum is safe while readers and writers run, on any backend:
- the newest manifest and every version newer than the retention are never deleted;
- manifests are deleted oldest first, and a log entry only once a kept manifest folds it (a
  reader's refresh relies on both, see :meth:`CollectionStore._extend`);
- a file no manifest ever listed is deleted only once it is older than ``IN_FLIGHT`` (a compaction
  in another process writes its blockfiles before its manifest names them);
- a reader loading a version whose files vacuum deletes meanwhile starts over on the newest one
  (:meth:`CollectionStore.snapshot`), and a version already loaded stays readable: its files are
  memory-mapped (local disk) or cached whole (object storage).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Iterable, Optional

from chroma_frame.engine.live_rows import write_live
from chroma_frame.engine.store import FORKS_DIR, SHARERS_DIR, CollectionStore
from chroma_frame.storage.blockfile import BLOCK_DIR, write_blockfile
from chroma_frame.storage.catalog import COLLECTIONS_DIR
from chroma_frame.storage.fs import FileEntry, Storage
from chroma_frame.storage.jobs import active_jobs, job_of
from chroma_frame.storage.log import SUFFIX, Commit
from chroma_frame.storage.manifest import MANIFEST, BlockRef, Manifest, is_shared
from chroma_frame.storage.series import WIDTH

logger = logging.getLogger(__name__)

IN_FLIGHT = 15 * 60.0  # seconds: younger files no manifest ever listed may belong to a commit being made
DEFAULT_RETENTION = 7 * 86400.0


@dataclass(frozen=True)
class Version:
    """One kept version of a collection: after commit ``version``, at ``time`` (seconds since
    the epoch), by ``operation``, holding ``records`` records."""

    version: int
    time: Optional[float]
    operation: str
    records: Optional[int]


def versions(store: CollectionStore) -> list[Version]:
    """The versions ``store`` keeps, oldest first (the last one is the current state)."""
    current = store.snapshot()
    base = _oldest_base(store)
    found: list[Version] = []
    start = base.log_upto if base is not None else 0
    if base is not None:
        first = _commit_or_none(store, start) if start else None
        if first is not None:
            found.append(Version(start, first.time, first.operation, first.records))
        else:
            found.append(Version(start, base.created, base.operation if start == 0 else "compact", base.records))
    for seq in range(start + 1, current.last_seq + 1):
        commit = store.log.commit(seq)
        found.append(Version(seq, commit.time, commit.operation, commit.records))
    return found


def _commit_or_none(store: CollectionStore, seq: int) -> Optional[Commit]:
    try:
        return store.log.commit(seq)
    except FileNotFoundError:
        return None


def _oldest_base(store: CollectionStore) -> Optional[Manifest]:
    for number in store.manifests.numbers():
        try:
            return store._manifest(number)
        except FileNotFoundError:
            continue
    return store._manifest(None) if not store.manifests.numbers() else None


# -- fork ---------------------------------------------------------------------------------------


def fork(store: CollectionStore, new_id: str, version: Optional[int] = None) -> None:
    """Make collection ``new_id`` hold the state of ``store`` (at ``version``; default the
    current one), sharing its blockfiles: the cost is the log tail not yet compacted (at most a
    compaction threshold of rows), whatever the collection's size. Writes to either never show
    in the other: the fork lists the source's blockfiles and never writes them."""
    snap = store.snapshot() if version is None else store.snapshot_at(version)
    storage = store.storage
    source = store.collection_id
    refs = [_shared_ref(seg.name, source) for seg in snap.base]
    prefix = f"collections/{new_id}"
    storage.makedirs(prefix)
    if snap.tail is not None and snap.tail.table.num_rows:
        refs.append(write_blockfile(storage, prefix, [snap.tail.table], snap.tail.table.schema))
    # noted before the fork lists the files: vacuum of their owners then keeps them
    marks = [(source, FORKS_DIR)] + [(owner, SHARERS_DIR) for owner in {ref.split("/")[1] for ref in refs
                                                                         if is_shared(ref)}]
    for owner, folder in marks:
        storage.makedirs(f"collections/{owner}/{folder}")
        storage.write_atomic(f"collections/{owner}/{folder}/{new_id}", b"")
    first = Manifest(version=0, log_upto=0, dimension=snap.dimension, blockfiles=tuple(refs), operation="fork",
                     records=snap.count, forked_from={"collection": source, "version": snap.last_seq})
    CollectionStore.create_files(storage, new_id, first)
    if refs:
        write_live(storage, prefix, 0, first.blockfiles, snap.live)


def _shared_ref(name: object, source: str) -> BlockRef:
    path = str(name)
    shared = path if is_shared(path) else f"../{source}/{path}"
    return BlockRef(shared, rows=getattr(name, "rows", None), size=getattr(name, "size", None),
                    crc32c=getattr(name, "crc32c", None), dimension=getattr(name, "dimension", None))


# -- vacuum -------------------------------------------------------------------------------------


@dataclass
class Vacuumed:
    """What a vacuum removed."""

    versions: int = 0
    files: int = 0
    bytes: int = 0

    def add(self, other: "Vacuumed") -> None:
        self.versions += other.versions
        self.files += other.files
        self.bytes += other.bytes


def vacuum(store: CollectionStore, older_than: float = DEFAULT_RETENTION, *, now: Optional[float] = None,
           in_flight: float = IN_FLIGHT) -> Vacuumed:
    """Let go of the versions of ``store`` superseded more than ``older_than`` seconds ago (never
    the current one) and delete the files no kept version lists."""
    now = time.time() if now is None else now
    storage, prefix = store.storage, store.prefix
    jobs = active_jobs(storage, prefix, now)  # before the versions: see storage/jobs.py
    numbers = store.manifests.numbers()
    done = Vacuumed()
    if not numbers:
        return done  # a collection of an older chroma-frame: its one manifest is all there is
    current = store.snapshot()
    log = {e.name: e for e in storage.list_entries(store.log.dir)}
    keep_from = _first_kept(log, current.last_seq, now - older_than)
    base = _base(store, numbers, keep_from)
    while True:  # a kept restore entry keeps the version it restores (and what that needs)
        commits = list(_commits(store, base.log_upto + 1, current.last_seq))
        targets = [c.restore_to for c in commits if c.operation == "restore" and c.restore_to is not None]
        if not targets or min(targets) >= base.log_upto:
            break
        base = _base(store, numbers, min(targets))
    kept = [n for n in numbers if n >= base.version]
    dropped = [n for n in numbers if n < base.version]
    if dropped:  # versions oldest.log_upto .. base.log_upto - 1 can no longer be read
        done.versions = base.log_upto - store._manifest(numbers[0]).log_upto
    listed = _stems(store._manifest(n).blockfiles for n in kept)
    listed |= _stems(c.attach for c in commits)  # attached by kept entries, before a manifest lists them
    listed |= _stems_forks_list(storage, store.collection_id)
    superseded = _stems(store._manifest(n).blockfiles for n in dropped) - listed  # committed once: no age rule
    for n in dropped:  # oldest first: see the module's docstring
        for rel in (store.manifests.name(n), store.manifests.name(n).removesuffix(".json") + ".live"):
            done.add(_delete(storage, rel, storage.size(rel)))
    for name, entry in log.items():
        seq = _seq(name)
        folded = seq is not None and seq <= base.log_upto
        stale = name.endswith(".tmp") and entry.mtime is not None and now - entry.mtime > in_flight
        if folded or stale:
            done.add(_delete(storage, f"{store.log.dir}/{name}", entry.size))
    for entry in storage.list_entries(f"{prefix}/{BLOCK_DIR}"):
        stem = entry.name.split(".", 1)[0]
        young = entry.mtime is None or now - entry.mtime <= in_flight
        if stem not in listed and (stem in superseded or not (young or job_of(stem) in jobs)):
            done.add(_delete(storage, f"{prefix}/{BLOCK_DIR}/{entry.name}", entry.size))
    done.add(_drop_legacy(storage, prefix))
    return done


def vacuum_orphans(storage: Storage, cataloged: set[str], *, now: Optional[float] = None,
                   in_flight: float = IN_FLIGHT) -> Vacuumed:
    """Delete the files of collections the catalog no longer lists (a deletion interrupted, or a
    deleted collection whose blockfiles forks still listed), keeping what forks still list. A
    folder younger than ``in_flight`` may be a collection being created: left alone."""
    now = time.time() if now is None else now
    done = Vacuumed()
    for cid in storage.list_names(COLLECTIONS_DIR):
        if cid in cataloged:
            continue
        prefix = f"{COLLECTIONS_DIR}/{cid}"
        entries = [(sub, e) for sub in ("", BLOCK_DIR, "log", "manifests", FORKS_DIR, SHARERS_DIR)
                   for e in storage.list_entries(f"{prefix}/{sub}" if sub else prefix)]
        if any(e.mtime is None or now - e.mtime <= in_flight for _, e in entries):
            continue
        needed = _stems_forks_list(storage, cid)
        for sub, entry in entries:
            if sub == BLOCK_DIR and entry.name.split(".", 1)[0] in needed:
                continue
            done.add(_delete(storage, f"{prefix}/{sub}/{entry.name}" if sub else f"{prefix}/{entry.name}", entry.size))
        if not needed:
            storage.delete_dir(prefix)
    return done


def _first_kept(log: dict[str, FileEntry], last_seq: int, cutoff: float) -> int:
    """The oldest version still kept: the last one superseded before ``cutoff`` is not."""
    oldest_kept = last_seq
    for seq in range(last_seq, 0, -1):
        entry = log.get(f"{seq:0{WIDTH}d}{SUFFIX}")
        if entry is None or entry.mtime is None or entry.mtime < cutoff:
            break
        oldest_kept = seq - 1  # version seq - 1 was current until seq came, after the cutoff
    return oldest_kept


def _base(store: CollectionStore, numbers: list[int], version: int) -> Manifest:
    """The newest manifest at or before ``version`` (the oldest one when none is)."""
    return store._base_for(version, numbers) or store._manifest(numbers[0])


def _commits(store: CollectionStore, first: int, last: int) -> Iterable[Commit]:
    for seq in range(first, last + 1):
        yield store.log.commit(seq)


def _stems(blockfile_lists: Iterable[Iterable[str]]) -> set[str]:
    return {str(rel).rsplit("/", 1)[-1].split(".", 1)[0] for refs in blockfile_lists for rel in refs
            if not is_shared(rel)}


def _stems_forks_list(storage: Storage, collection_id: str) -> set[str]:
    """Stems of this collection's blockfiles that the kept manifests of its forks list."""
    stems: set[str] = set()
    mine = f"../{collection_id}/{BLOCK_DIR}/"
    for fid in storage.list_names(f"collections/{collection_id}/{SHARERS_DIR}"):
        other = CollectionStore(storage, fid)
        for number in other.manifests.numbers():
            try:
                refs = other._manifest(number).blockfiles
            except FileNotFoundError:
                continue
            stems |= {str(r)[len(mine):].split(".", 1)[0] for r in refs if str(r).startswith(mine)}
    return stems


def _seq(name: str) -> Optional[int]:
    stem = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else ""
    return int(stem) if stem.isdigit() else None


def _drop_legacy(storage: Storage, prefix: str) -> Vacuumed:
    """The single manifest and version markers of an older chroma-frame, once numbered manifests
    have replaced them."""
    done = _delete(storage, f"{prefix}/{MANIFEST}", storage.size(f"{prefix}/{MANIFEST}"))
    for entry in storage.list_entries(f"{prefix}/versions"):
        done.add(_delete(storage, f"{prefix}/versions/{entry.name}", entry.size))
    return done


def _delete(storage: Storage, rel: str, size: Optional[int]) -> Vacuumed:
    if size is None:  # not there
        return Vacuumed()
    try:
        storage.delete_file(rel)
    except OSError as exc:  # the next vacuum tries again
        logger.warning("vacuum could not delete %s: %s", rel, exc)
        return Vacuumed()
    return Vacuumed(files=1, bytes=size or 0)


__all__ = ["DEFAULT_RETENTION", "Vacuumed", "Version", "fork", "vacuum", "vacuum_orphans", "versions"]
