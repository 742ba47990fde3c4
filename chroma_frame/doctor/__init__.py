"""``chroma-frame doctor``: verify every file under a path, and repair what can be repaired.

:func:`check` is read-only. :func:`repair` rebuilds a missing or damaged catalog from the
collection folders (as a new catalog version), drops a damaged end of a log (reporting the
acknowledged writes lost), deletes damaged derived files (graphs, postings: rebuilt when next
needed) and crash debris (temporary files, unlisted blockfiles). It cannot repair a damaged
blockfile, manifest or a damaged log entry followed by good ones: those need a backup. See docs/reliability.md.
"""

from __future__ import annotations

import os

from chroma_frame.doctor import collection
from chroma_frame.doctor.accounting import DoctorError, account, repair_catalog
from chroma_frame.doctor.report import ERROR, WARNING, Problem, Report
from chroma_frame.storage.fs import Storage


def _storage(path: str | os.PathLike) -> Storage:
    """The storage under ``path``: a local folder, or ``s3://bucket/prefix`` read without the
    local cache (the doctor checks what is stored, not a copy of it)."""
    if "://" in os.fspath(path):
        return Storage.for_path(path, cache_dir=False)
    root = os.path.abspath(os.fspath(path))
    if not os.path.isdir(root):  # checked first: Storage.local would create it
        raise DoctorError(f"{root} does not exist or is not a folder: nothing to check")
    return Storage.local(root)


def check(path: str | os.PathLike) -> Report:
    """Verify the catalog and every file of every collection folder under ``path``; writes nothing."""
    storage = _storage(path)
    report = Report(storage.root)
    acc = account(storage, report)
    for cid in acc.folders:
        collection.inspect(storage, cid, report)
    return report


def repair(path: str | os.PathLike) -> Report:
    """Repair what :func:`check` finds repairable, then check again.

    The returned report's ``found`` are the problems before, ``actions`` what was done and
    ``problems`` what remains. Run it while no other process uses the path.
    """
    found = check(path)
    storage = _storage(path)
    report = Report(storage.root, found=found.problems)
    acc = account(storage, Report(storage.root))
    keep = repair_catalog(storage, acc, report)  # a new catalog version, created only if none was meanwhile
    for cid in keep:  # writers take no lock: --repair runs while no other process uses the path
        collection.repair(storage, collection.inspect(storage, cid, Report(storage.root)), report)
    after = check(path)
    report.problems, report.checked = after.problems, after.checked
    return report


__all__ = ["check", "repair", "Report", "Problem", "DoctorError", "ERROR", "WARNING"]
