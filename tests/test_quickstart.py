"""The README quickstart runs as written."""

import os
import re

from tests.conftest import ROOT, run_python


def _readme_quickstart() -> str:
    readme = open(os.path.join(ROOT, "README.md")).read()
    return re.search(r"## Quickstart\n\n```python\n(.*?)```", readme, re.S).group(1)


def test_readme_quickstart_is_docs_quickstart():
    assert _readme_quickstart() == open(os.path.join(ROOT, "docs", "quickstart.py")).read()


def test_readme_quickstart_runs(tmp_path):
    code = f"import os; os.chdir({str(tmp_path)!r})\n" + _readme_quickstart()
    res = run_python(code, timeout=600)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert lines[0].startswith("['duckdb', 'polars']"), res.stdout  # only engines, nearest first
    assert lines[-1] == "['An in-process SQL database']"
