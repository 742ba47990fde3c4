"""What went wrong building graphs: a marker per blockfile and space, and the collection's index log.

``blocks/<uuid>.<space>.graph.failed.json`` records the build attempts of one graph and the error
of the last failed one. A graph whose build failed (or whose builder died ``MAX_ATTEMPTS`` times)
is not retried automatically: the blockfile is scanned exactly, ``index_status()`` lists it, and
``collection.build_index()``, ``chroma-frame index`` and ``build_missing(..., retry_failed=True)``
try again. A new blockfile (a new uuid) starts afresh; the marker goes with its blockfile when a
compaction removes it.

``collections/<id>/index.log`` gets the tracebacks of failed builds, appended, and rotated to
``index.log.1`` past ``LOG_LIMIT`` bytes.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Optional

from chroma_frame.storage.fs import Storage

MAX_ATTEMPTS = 3  # builds of one graph that died without a word (killed, crashed) before giving up
LOG_NAME = "index.log"
LOG_LIMIT = 1 << 20


def failure_path(block_rel: str, space: str) -> str:
    """``blocks/<uuid>.arrow`` -> ``blocks/<uuid>.<space>.graph.failed.json``."""
    return str(block_rel).rsplit(".", 1)[0] + f".{space}.graph.failed.json"


def read_marker(storage: Storage, prefix: str, block_rel: str, space: str) -> Optional[dict[str, Any]]:
    """The build record of a graph, None when there is none."""
    try:
        data = storage.read_bytes(f"{prefix}/{failure_path(block_rel, space)}")
    except FileNotFoundError:
        return None
    except OSError as exc:
        return {"attempts": MAX_ATTEMPTS, "error": f"unreadable build record: {exc}"}
    try:
        marker = json.loads(data)
        return {"attempts": int(marker.get("attempts", 0)), "error": marker.get("error")}
    except (ValueError, AttributeError, TypeError):
        return {"attempts": MAX_ATTEMPTS, "error": "unreadable build record"}


def failure_of(marker: Optional[dict[str, Any]]) -> Optional[str]:
    """Why a graph is not to be built again automatically, or None."""
    if marker is None:
        return None
    if marker.get("error"):
        return str(marker["error"])
    if marker.get("attempts", 0) >= MAX_ATTEMPTS:
        return f"the builder stopped without finishing {marker['attempts']} times (killed or crashed)"
    return None


def write_marker(storage: Storage, prefix: str, block_rel: str, space: str, *, attempts: int,
                 error: Optional[str] = None) -> None:
    document = {"attempts": attempts, "error": error, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    storage.write_atomic(f"{prefix}/{failure_path(block_rel, space)}", json.dumps(document).encode())


def clear_marker(storage: Storage, prefix: str, block_rel: str, space: str) -> None:
    rel = f"{prefix}/{failure_path(block_rel, space)}"
    if storage.exists(rel):
        storage.delete_file(rel)


def log_path(root: str, prefix: str) -> str:
    return os.path.join(root, prefix, LOG_NAME)


def open_log(root: str, prefix: str):
    """The collection's index log, opened for appending (binary), rotated first when too large."""
    path = log_path(root, prefix)
    try:
        if os.path.getsize(path) > LOG_LIMIT:
            os.replace(path, path + ".1")
    except OSError:
        pass
    return open(path, "ab")


def append_log(root: str, prefix: str, text: str) -> None:
    """Append a stamped entry to the collection's index log (best effort: logging never fails a build)."""
    try:
        with open_log(root, prefix) as f:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            f.write(f"{stamp} [pid {os.getpid()}] {text.rstrip()}\n".encode("utf-8", "replace"))
    except OSError:
        pass
