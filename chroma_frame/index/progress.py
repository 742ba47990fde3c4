"""Progress of an index build: reporting it (a tqdm bar as ``ingest`` shows, or the caller's
callback) and abandoning it."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

Progress = Callable[[int, int], None]  # (rows done, rows in all)


class Cancelled(Exception):
    """The build was abandoned (the process is exiting): nothing of it is written."""


@contextmanager
def reporter(progress: Any) -> Iterator[Optional[Progress]]:
    """``progress``: None (a bar after 2 s, if tqdm is installed), True (a bar at once), False
    (nothing) or a callable ``(rows_done, rows_total)``; yields what the build calls."""
    if callable(progress) or progress is False:
        yield progress or None
        return
    try:
        import warnings

        with warnings.catch_warnings():  # tqdm.auto warns in Jupyter without ipywidgets
            warnings.simplefilter("ignore")
            from tqdm.auto import tqdm
    except ImportError:
        yield None
        return
    bar = tqdm(total=0, unit="rows", desc="index", delay=0 if progress else 2.0, unit_scale=True)

    def update(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()
