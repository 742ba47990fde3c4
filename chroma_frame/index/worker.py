"""The background index builder: one thread of the user's process, never a process of its own.

Collections ask for builds (:meth:`BuildWorker.submit`); the worker builds them one at a time
(the search and build kernels release the GIL, so queries of the same process go on). It runs at
the process's own priority: niced by 10 on this shared 2-core machine (load 8) a 5,000-row build
got no CPU for over a minute, so lowering it meant being blocked by other users' processes.

At interpreter exit the build in progress is abandoned: nothing of it is written (graphs are
written atomically, once complete), its attempt is not counted as a failure, and the next process
that opens the collection builds it again. Nothing outlives the process.
"""

from __future__ import annotations

import atexit
import logging
import threading
from typing import Any, Optional

from chroma_frame.index.params import IndexParams

log = logging.getLogger(__name__)

EXIT_GRACE = 2.0  # seconds the exit hook waits for the build in progress to notice it is abandoned


class BuildTicket:
    """One requested build of a collection's missing graphs (the handle ``wait_for_index`` waits on)."""

    def __init__(self, root: Any, collection_id: str, params: IndexParams) -> None:  # a Storage, or a local path
        self.root, self.collection_id, self.params = root, collection_id, params
        self.cancel = threading.Event()
        self.finished = threading.Event()
        self.built = 0

    def poll(self) -> Optional[int]:
        """None while queued or building, then 0 (as ``Popen.poll``)."""
        return 0 if self.finished.is_set() else None

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until done; False when ``timeout`` passes first."""
        return self.finished.wait(timeout)

    def kill(self) -> None:
        """Abandon this build (nothing of it is written)."""
        self.cancel.set()


class BuildWorker:
    """Builds requested by this process's collections, one at a time, in one daemon thread."""

    def __init__(self) -> None:
        self._queue: list[BuildTicket] = []
        self._cond = threading.Condition()
        self._thread: Optional[threading.Thread] = None
        self._running: Optional[BuildTicket] = None
        self._closed = False

    def submit(self, root: Any, collection_id: str, params: IndexParams) -> BuildTicket:
        """Queue a build of the collection's missing graphs (joined with a queued one for the same
        collection and parameters)."""
        with self._cond:
            for ticket in self._queue:
                if (ticket.root, ticket.collection_id, ticket.params) == (root, collection_id, params):
                    return ticket
            ticket = BuildTicket(root, collection_id, params)
            if self._closed:
                ticket.finished.set()
                return ticket
            self._queue.append(ticket)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="chroma-frame-index-builder", daemon=True)
                self._thread.start()
            self._cond.notify()
            return ticket

    def discard(self, ticket: BuildTicket) -> None:
        """Abandon ``ticket``: dropped from the queue, or cancelled if it is running."""
        ticket.cancel.set()
        with self._cond:
            if ticket in self._queue:
                self._queue.remove(ticket)
                ticket.finished.set()

    def _run(self) -> None:
        from chroma_frame.index.build import build_missing

        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                ticket = self._running = self._queue.pop(0)
            try:
                if not ticket.cancel.is_set():
                    ticket.built = build_missing(ticket.root, ticket.collection_id, ticket.params,
                                                 cancel=ticket.cancel)
            except Exception:  # noqa: BLE001 - a build never takes the worker down
                log.exception("index build of %s failed", ticket.collection_id)
            finally:
                with self._cond:
                    self._running = None
                ticket.finished.set()

    def close(self, grace: float = EXIT_GRACE) -> None:
        """Abandon queued and running builds (at interpreter exit)."""
        from chroma_frame.index.build import abandon_running

        with self._cond:
            self._closed = True
            pending, self._queue = self._queue, []
            running = self._running
            self._cond.notify_all()
        for ticket in pending:
            ticket.cancel.set()
            ticket.finished.set()
        if running is not None:
            running.cancel.set()
            if not running.finished.wait(grace):
                abandon_running()  # stuck in a kernel: the process ends around it; un-count the attempt


_worker: Optional[BuildWorker] = None
_worker_lock = threading.Lock()


def worker() -> BuildWorker:
    """This process's build worker (created on first use, closed at interpreter exit)."""
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = BuildWorker()
            atexit.register(_worker.close)
        return _worker
