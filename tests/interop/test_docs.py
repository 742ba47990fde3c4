"""The Python examples of docs/dataframes.md and docs/sql.md run, each page as one script."""

import os
import re

import pytest

from tests.conftest import ROOT, run_python


@pytest.mark.parametrize("page", ["dataframes.md", "sql.md"])
def test_doc_examples_run(page):
    text = open(os.path.join(ROOT, "docs", page), encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 5
    out = run_python("\n".join(blocks), timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
