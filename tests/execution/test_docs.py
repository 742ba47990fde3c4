"""The Python examples of docs/search.md run, as one script, in a fresh interpreter."""

import os
import re

from tests.conftest import ROOT, run_python


def test_search_page_examples_run():
    text = open(os.path.join(ROOT, "docs", "search.md"), encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 6
    out = run_python("\n".join(blocks), timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
