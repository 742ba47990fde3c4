"""A small cache of filters' matching positions per snapshot.

A snapshot never changes, so the positions a filter selected in it stay right while it lives: a
filter repeated on one snapshot (a dashboard, a batch of filtered queries, pagination) is read
from here instead of scanning the typed columns again. Entries live with their snapshot (a
write makes a new one) and are bounded in count and bytes; arrays handed out are read-only.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Callable, Hashable, Optional

import numpy as np

MAX_ENTRIES = 32  # filters remembered per snapshot
MAX_BYTES = 64 << 20  # positions remembered per snapshot (the oldest filters leave first)
ENABLED = True  # benchmarks turn it off to measure the scan itself

_caches: dict[int, "OrderedDict[Hashable, np.ndarray]"] = {}
_lock = threading.Lock()


def cached(snap: object, key: Hashable, compute: Callable[[], Optional[np.ndarray]]) -> Optional[np.ndarray]:
    """``compute()`` for ``key`` in ``snap``, remembered while ``snap`` lives (None is not kept)."""
    if not ENABLED:
        return compute()
    cache = _caches.get(id(snap))
    if cache is not None:
        with _lock:
            found = cache.get(key)
            if found is not None:
                cache.move_to_end(key)
                return found
    value = compute()
    if value is None or value.nbytes > MAX_BYTES:
        return value
    value.flags.writeable = False
    with _lock:
        cache = _caches.get(id(snap))
        if cache is None:
            cache = _caches[id(snap)] = OrderedDict()
            weakref.finalize(snap, _caches.pop, id(snap), None)
        cache[key] = value
        while len(cache) > MAX_ENTRIES or sum(v.nbytes for v in cache.values()) > MAX_BYTES:
            cache.popitem(last=False)
    return value


__all__ = ["MAX_BYTES", "MAX_ENTRIES", "cached"]
