"""Where a collection's files are, for tests that read or damage them directly."""

from __future__ import annotations

from pathlib import Path


def manifest_path(folder: Path | str) -> Path:
    """The current (newest) manifest of the collection in ``folder``."""
    found = sorted((Path(folder) / "manifests").glob("*.json"))
    assert found, f"no manifest in {folder}"
    return found[-1]
