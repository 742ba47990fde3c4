"""Run the notebooks top to bottom and store their outputs, so readers on GitHub see the tables and plots.

    python notebooks/execute.py                 # every notebook
    python notebooks/execute.py quickstart.ipynb

The outputs come from the sizes in ``RUNS`` (smaller than the notebooks' defaults, so that
``tests/interop/test_notebooks.py`` can run them again and check the stored outputs are current).
Cells tagged ``timing`` print measurements: the test compares their shape, not their numbers.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import nbclient
import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

RUNS = {  # notebook -> environment of the stored run
    "quickstart.ipynb": {},
    # 2,500 rows: above nndescent.min_rows (2,048), so the blockfile gets a graph and ef_search matters
    "polars_and_duckdb.ipynb": {"CF_NOTEBOOK_ROWS": "2500", "CF_NOTEBOOK_INDEX_TIMEOUT": "600"},
    "bulk_ingest.ipynb": {"CF_NOTEBOOK_ROWS": "8000"},
}


def execute(name: str, temp_dir: str) -> nbformat.NotebookNode:
    """``name`` run in a fresh kernel with its ``RUNS`` environment; temporary files under ``temp_dir``."""
    book = nbformat.read(HERE / name, as_version=4)
    saved = dict(os.environ)
    os.environ.update({**RUNS[name], "TMPDIR": temp_dir,
                       "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), saved.get("PYTHONPATH")]))})
    try:
        nbclient.NotebookClient(book, timeout=900, kernel_name="python3",
                                resources={"metadata": {"path": str(ROOT)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    book.metadata["chroma_frame"] = {"environment": RUNS[name]}
    return book


def main(names: list[str]) -> None:
    for name in names or sorted(RUNS):
        with tempfile.TemporaryDirectory() as temp_dir:
            book = execute(name, temp_dir)
            left = os.listdir(temp_dir)
            if left:
                raise SystemExit(f"{name} left temporary files behind: {left}")
        nbformat.write(book, HERE / name)
        print(f"executed {name}")


if __name__ == "__main__":
    main(sys.argv[1:])
