"""When to try a failed background task again: after a growing number of chances or seconds.

Compaction after a committed write is such a task: when it fails (a full disk) the write still
succeeds, and the compaction is tried again later, not on every following write.
"""

from __future__ import annotations

import time
from typing import Callable


class Backoff:
    """After ``k`` failures in a row, :meth:`due` is true again after ``2**k`` more calls or
    ``2**k`` seconds, whichever comes first (capped at ``max_calls`` / ``max_seconds``)."""

    def __init__(self, *, max_calls: int = 64, max_seconds: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_calls, self.max_seconds, self._clock = max_calls, max_seconds, clock
        self.failures = 0
        self._calls = 0
        self._failed_at = 0.0

    def due(self) -> bool:
        """Whether to try now; each call counts as one chance."""
        if self.failures == 0:
            return True
        self._calls += 1
        wait = 2 ** min(self.failures, 30)
        return (self._calls >= min(wait, self.max_calls)
                or self._clock() - self._failed_at >= min(wait, self.max_seconds))

    def failed(self) -> None:
        self.failures += 1
        self._calls = 0
        self._failed_at = self._clock()

    def succeeded(self) -> None:
        self.failures = 0
