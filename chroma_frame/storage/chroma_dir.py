"""Recognise a Chroma (chromadb) persistent directory, which chroma-frame never opens as storage.

Chroma keeps a database in ``chroma.sqlite3`` plus one folder per vector segment; chroma-frame's
storage root holds ``catalog/`` (or a legacy ``catalog.json``). A client pointed at Chroma's
directory would find no catalog, show an empty database and start writing its own files next to
Chroma's: :func:`refuse_chroma_directory` stops that before anything is created, and names the way
across (``chroma-frame migrate``).
"""

from __future__ import annotations

import os

CHROMA_SQLITE = "chroma.sqlite3"


class ChromaDirectoryError(ValueError):
    """``path`` is a Chroma database directory: chroma-frame does not read or write it in place."""


def is_chroma_directory(path: str | os.PathLike) -> bool:
    """True when ``path`` is a local folder holding Chroma's ``chroma.sqlite3``."""
    return os.path.isfile(os.path.join(os.fspath(path), CHROMA_SQLITE))


def refusal_message(path: str) -> str:
    """The error text for a Chroma directory at ``path``: what it is and the commands that copy it."""
    return (f"{path} is a Chroma database directory (it has {CHROMA_SQLITE}), not chroma-frame storage; "
            "chroma-frame does not open it in place and wrote nothing into it. Copy it into a new "
            f"chroma-frame path with `chroma-frame migrate --from {path} --to NEW_PATH` or, in Python, "
            f"`chroma_frame.migrate({path!r}, 'NEW_PATH')`, then open NEW_PATH (docs/migrate.md).")


def refuse_chroma_directory(path: str | os.PathLike) -> None:
    """Raise :class:`ChromaDirectoryError` when ``path`` is a Chroma directory (checks only; writes nothing)."""
    if is_chroma_directory(path):
        raise ChromaDirectoryError(refusal_message(os.fspath(path)))
