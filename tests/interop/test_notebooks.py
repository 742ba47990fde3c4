"""The notebooks run top to bottom (nbclient) on small generated data, leave no temporary files,
and the outputs stored with them (what readers see on GitHub) are the outputs they produce now.

Every plot the notebooks promise is drawn by the run: the map coloured by a metadata column
(quickstart), recall against latency over ``ef_search`` values through a real search graph
(polars_and_duckdb: enough rows for a graph, which a background process builds), ingest
throughput by batch size (bulk_ingest). ``python notebooks/execute.py`` stores fresh outputs.
"""

import importlib.util
import os
import re

import pytest

from tests.conftest import ROOT

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

PLOTS = {"quickstart.ipynb": {"plot-map"}, "polars_and_duckdb.ipynb": {"plot-recall"},
         "bulk_ingest.ipynb": {"plot-throughput"}}


def _executor():
    spec = importlib.util.spec_from_file_location("notebook_execute", os.path.join(ROOT, "notebooks", "execute.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read(name):
    return nbformat.read(os.path.join(ROOT, "notebooks", name), as_version=4)


def _tagged(book, tag):
    return [c for c in book.cells if tag in c.metadata.get("tags", [])]


def _text(cell):
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


_NUMBER = re.compile(r"\d+(\.\d+)?(e[-+]?\d+)?")
_VOLATILE = re.compile(r" at 0x[0-9a-f]+|/tmp[^\s'\"<]*|\\r[^\n]*")


def _shown(cell) -> list:
    """What a reader sees of a cell's outputs: kinds and texts (numbers masked in ``timing`` cells;
    images by kind only: their bytes change with the plotting library)."""
    timing = "timing" in cell.metadata.get("tags", [])
    shown: list = []
    for out in cell.outputs:
        if out.output_type == "stream":
            if timing and out.name == "stderr":
                continue  # progress bars: how often they redraw depends on the speed
            if shown and shown[-1][0] == "stream" and out.name in shown[-1][1]:
                shown[-1][1][out.name] += out.text  # one stream, however the kernel chunked it
                continue
            items = {out.name: out.text}
        else:
            items = {mime: value for mime, value in out.get("data", {}).items() if mime.startswith("text/")}
            items.update({mime: "<image>" for mime in out.get("data", {}) if mime.startswith("image/")})
        shown.append((out.output_type, items))
    return [(kind, {k: _normal("".join(v) if isinstance(v, list) else v, timing) for k, v in items.items()})
            for kind, items in shown]


def _normal(text: str, timing: bool) -> str:
    text = _VOLATILE.sub("", text)
    if timing:  # numbers masked, and the padding that their widths change
        text = re.sub(r"[ \t]+", " ", _NUMBER.sub("#", text))
    return text


@pytest.mark.parametrize("name", sorted(PLOTS))
def test_notebook_runs_and_its_stored_outputs_are_current(name, tmp_path):
    execute = _executor()
    assert set(execute.RUNS) == set(PLOTS)
    book = execute.execute(name, str(tmp_path))
    assert os.listdir(tmp_path) == []  # the notebook removed what it made
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    for tag in PLOTS[name]:
        [cell] = _tagged(book, tag)
        assert any("image/png" in o.get("data", {}) for o in cell.outputs), f"{tag} drew nothing"
    if name == "polars_and_duckdb.ipynb":  # the recall points came from graph search, not an exact scan
        [points] = _tagged(book, "recall-points")
        assert "graph ready: True" in _text(points) and "'indexed_rows': 2500" in _text(points), _text(points)
    stored = _read(name)
    assert stored.metadata.get("chroma_frame", {}).get("environment") == execute.RUNS[name]
    code = [(c, s) for c, s in zip(book.cells, stored.cells) if c.cell_type == "code"]
    assert [c.source for c, _ in code] == [s.source for _, s in code]
    assert any(old.outputs for _, old in code), f"{name} is stored without outputs: run python notebooks/execute.py"
    for fresh, old in code:
        assert _shown(fresh) == _shown(old), (
            f"{name}: stored outputs are stale (run python notebooks/execute.py):\n{fresh.source}")
