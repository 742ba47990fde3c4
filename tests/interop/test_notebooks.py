"""The notebooks run top to bottom (nbclient), on small data, and are stored without outputs."""

import os

import pytest

from tests.conftest import ROOT

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOKS = {  # small sizes for the suite; the notebooks default to larger data
    "quickstart.ipynb": {},
    "polars_and_duckdb.ipynb": {"CF_NOTEBOOK_ROWS": "1500", "CF_NOTEBOOK_INDEX_TIMEOUT": "0"},
    "bulk_ingest.ipynb": {"CF_NOTEBOOK_ROWS": "8000"},
}


def _read(name):
    return nbformat.read(os.path.join(ROOT, "notebooks", name), as_version=4)


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_runs(name, monkeypatch):
    for key, value in {**NOTEBOOKS[name], "PYTHONPATH": ROOT}.items():
        monkeypatch.setenv(key, value)
    book = _read(name)
    nbclient.NotebookClient(book, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": ROOT}}).execute()
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    images = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert images, "the notebook should draw its plot"


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_outputs_are_cleared(name):
    for cell in _read(name).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
