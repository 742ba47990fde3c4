"""The notebooks run top to bottom (nbclient), on small generated data, and are stored without outputs.

Every plot the notebooks promise is drawn by the run: the map coloured by a metadata column
(quickstart), recall against latency over ``ef_search`` values through a real search graph
(polars_and_duckdb: enough rows for a graph, which a background process builds), ingest
throughput by batch size (bulk_ingest).
"""

import os

import pytest

from tests.conftest import ROOT

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOKS = {  # small sizes for the suite (the notebooks default to larger data), and the plots each draws
    "quickstart.ipynb": ({}, {"plot-map"}),
    # 2,500 rows: above nndescent.min_rows (2,048), so the blockfile gets a graph and ef_search matters
    "polars_and_duckdb.ipynb": ({"CF_NOTEBOOK_ROWS": "2500", "CF_NOTEBOOK_INDEX_TIMEOUT": "600"}, {"plot-recall"}),
    "bulk_ingest.ipynb": ({"CF_NOTEBOOK_ROWS": "8000"}, {"plot-throughput"}),
}


def _read(name):
    return nbformat.read(os.path.join(ROOT, "notebooks", name), as_version=4)


def _tagged(book, tag):
    return [c for c in book.cells if tag in c.metadata.get("tags", [])]


def _text(cell):
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_runs(name, monkeypatch, tmp_path):
    env, plots = NOTEBOOKS[name]
    # the notebooks' tempfile.mkdtemp() folders go where pytest removes them, not into /tmp for good
    for key, value in {**env, "PYTHONPATH": ROOT, "TMPDIR": str(tmp_path)}.items():
        monkeypatch.setenv(key, value)
    book = _read(name)
    nbclient.NotebookClient(book, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": ROOT}}).execute()
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    for tag in plots:
        [cell] = _tagged(book, tag)
        assert any("image/png" in o.get("data", {}) for o in cell.outputs), f"{tag} drew nothing"
    if name == "polars_and_duckdb.ipynb":  # the recall points came from graph search, not an exact scan
        [points] = _tagged(book, "recall-points")
        assert "graph ready: True" in _text(points) and "'indexed_rows': 2500" in _text(points), _text(points)


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_outputs_are_cleared(name):
    for cell in _read(name).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
