"""Coalescing concurrent compatible requests into one library call.

Requests that arrive while ``max_running`` calls with the same key are already running wait, and
the next call serves all of them at once. An idle server therefore answers each request as it
comes (no timer, no added latency); under load, queries to one collection share the per-call work
(snapshot refresh, filter, one matrix product over the exact-scan tail instead of one per query).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable, Hashable, Sequence

import numpy as np
import orjson


class _Slot:
    __slots__ = ("item", "event", "done", "lead", "result", "error")

    def __init__(self, item: Any) -> None:
        self.item = item
        self.event = threading.Event()
        self.done = False
        self.lead = False
        self.result: Any = None
        self.error: BaseException | None = None


class _Key:
    __slots__ = ("pending", "running")

    def __init__(self) -> None:
        self.pending: deque[_Slot] = deque()
        self.running = 0


class Coalescer:
    """``submit(key, item, run_batch)`` from many threads: items of one key run in batches.

    ``run_batch(items)`` returns one result per item, in order. When it raises for a batch of
    several, each item is run alone, so an error reaches only the request that caused it.
    """

    def __init__(self, max_running: int = 1, max_batch: int = 64) -> None:
        self.max_running = max(1, max_running)
        self.max_batch = max(1, max_batch)
        self._lock = threading.Lock()
        self._keys: dict[Hashable, _Key] = {}

    def submit(self, key: Hashable, item: Any, run_batch: Callable[[list[Any]], Sequence[Any]]) -> Any:
        slot = _Slot(item)
        with self._lock:
            state = self._keys.get(key)
            if state is None:
                state = self._keys[key] = _Key()
            state.pending.append(slot)
            if state.running < self.max_running:
                state.running += 1
                slot.lead = True
        if not slot.lead:
            slot.event.wait()
            with self._lock:
                lead = slot.lead  # promoted by a leader that left (its own slot may be done too)
            if not lead:
                return _outcome(slot)
        # A leader runs batches until its own item is served, then hands over to a waiter.
        while True:
            slot.event.clear()  # before looking at ``done``: a wake-up after this is never lost
            if slot.done:
                break
            with self._lock:
                batch = [state.pending.popleft() for _ in range(min(self.max_batch, len(state.pending)))]
            if not batch:
                slot.event.wait()  # our item is in another leader's batch
                continue
            _run(batch, run_batch)
            for other in batch:
                if other is not slot:
                    other.event.set()
        with self._lock:
            heir = next((s for s in state.pending if not s.lead), None)  # a lead may wait there too
            if heir is not None:
                heir.lead = True
                heir.event.set()
            else:
                state.running -= 1
                if state.running == 0:
                    del self._keys[key]
        return _outcome(slot)


def _run(batch: list[_Slot], run_batch: Callable[[list[Any]], Sequence[Any]]) -> None:
    try:
        results = run_batch([s.item for s in batch])
    except BaseException as exc:  # noqa: BLE001 - handed to the request(s) it belongs to
        if len(batch) == 1:
            batch[0].error = exc
            batch[0].done = True
            return
        for s in batch:
            _run([s], run_batch)
        return
    for s, result in zip(batch, results):
        s.result = result
        s.done = True


def _outcome(slot: _Slot) -> Any:
    if slot.error is not None:
        raise slot.error
    return slot.result


COALESCE_MAX_ROWS = 8  # a request with more query vectors is a batch already: it runs alone


def query_key(tenant: str, database: str, collection_id: str, body: Any, queries: Any) -> Hashable | None:
    """What two query requests must share to run as one call; None: run this one alone (so that
    a big batch never holds up small queries queued behind it)."""
    if not isinstance(queries, np.ndarray) or queries.ndim != 2 or not 0 < len(queries) <= COALESCE_MAX_ROWS:
        return None
    try:
        filters = orjson.dumps([body.where, body.where_document, body.ids], option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None
    return (tenant, database, collection_id, queries.shape[1], body.n_results, tuple(body.include), filters)


def split_rows(result: dict[str, Any], counts: Sequence[int]) -> list[dict[str, Any]]:
    """A query result over stacked queries, cut back into one result per request."""
    parts, start = [], 0
    for n in counts:
        parts.append({k: v[start:start + n] if isinstance(v, list) and k != "included" else v
                      for k, v in result.items()})
        start += n
    return parts
