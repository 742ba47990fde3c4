"""One daemon thread running jobs in order: in-memory structures made off the query path.

A daemon thread, not a ``ThreadPoolExecutor`` (whose threads the interpreter joins at exit): a
job still making an index when the user's script ends must not hold the process up.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable

log = logging.getLogger(__name__)


class Background:
    """Jobs run one at a time, in the order given, by a daemon thread started on first use."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, job: Callable[..., Any], *args: Any) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
        self._jobs.put((job, args))

    def wait(self) -> None:
        """Block until every job given so far has run (tests, benchmarks)."""
        self._jobs.join()

    def _run(self) -> None:
        while True:
            job, args = self._jobs.get()
            try:
                job(*args)
            except Exception:  # a structure that could not be made: its users keep their slower path
                log.exception("%s: background job failed", self.name)
            finally:
                self._jobs.task_done()


__all__ = ["Background"]
