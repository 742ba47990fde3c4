"""Bulk jobs in flight: blockfiles written before the commit that will list them.

A job of several machines (``chroma_frame.ray.write``) writes blockfiles named
``blocks/<job>-<task>-<part>.arrow`` long before its driver commits them, so they are "listed by
no version" for as long as the job runs. ``jobs/<job>`` is created before the first of them and
removed after the commit (or after the job failed and its files were removed); vacuum and the
doctor keep the blockfiles of a job whose marker exists and is younger than ``JOB_TTL``. A
marker older than that belongs to a driver that died: its files are orphans like any other.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Optional

from chroma_frame.storage.fs import Storage

JOBS_DIR = "jobs"
JOB_TTL = 3 * 86400.0  # seconds: a job running longer than this loses its unlisted blockfiles to vacuum


def start_job(storage: Storage, prefix: str, what: str) -> str:
    """Create a job marker for the collection at ``prefix``; returns the job's id."""
    job = f"job{uuid.uuid4().hex[:20]}"
    storage.makedirs(f"{prefix}/{JOBS_DIR}")
    storage.write_atomic(f"{prefix}/{JOBS_DIR}/{job}", json.dumps({"started": time.time(), "what": what}).encode())
    return job


def end_job(storage: Storage, prefix: str, job: str) -> None:
    storage.delete_file(f"{prefix}/{JOBS_DIR}/{job}")


def job_block(job: str, task: int, part: int) -> str:
    """The stem of a job's blockfile (its task's ``part``-th): the same on a retry of the task."""
    return f"{job}-{task:06d}-{part:04d}"


def job_of(stem: str) -> Optional[str]:
    """The job that wrote a blockfile with this stem, or None (a compaction's blockfile)."""
    head = stem.split("-", 1)[0]
    return head if head.startswith("job") and head != stem else None


def active_jobs(storage: Storage, prefix: str, now: Optional[float] = None) -> set[str]:
    """Jobs of the collection whose marker is younger than ``JOB_TTL``."""
    now = time.time() if now is None else now
    return {e.name for e in storage.list_entries(f"{prefix}/{JOBS_DIR}")
            if e.mtime is None or now - e.mtime <= JOB_TTL}
