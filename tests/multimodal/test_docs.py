"""docs/multimodal.md: its Python example runs as written in a fresh interpreter, and again with
``chromadb`` swapped in for ``chroma_frame``, with the same output."""

import os
import re

import pytest

from tests.conftest import ROOT, run_python

pytest.importorskip("PIL")


def _example() -> str:
    text = open(os.path.join(ROOT, "docs", "multimodal.md"), encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1
    return blocks[0]


def test_multimodal_example_runs_as_on_chromadb(tmp_path):
    pytest.importorskip("chromadb")
    code = _example()
    env = {"TMPDIR": str(tmp_path)}  # the example's PNG folder ends up here, removed with tmp_path
    ours = run_python(code, env=env)
    assert ours.returncode == 0, ours.stderr[-3000:]
    theirs = run_python(code.replace("import chroma_frame as chromadb", "import chromadb")
                        .replace("from chroma_frame.", "from chromadb."), env=env)
    assert theirs.returncode == 0, theirs.stderr[-3000:]

    def normalised(stdout: str) -> str:
        return re.sub(re.escape(str(tmp_path)) + r"/[^/]+/", "DIR/", stdout)

    assert normalised(ours.stdout) == normalised(theirs.stdout) != ""
    assert "DIR/photo5.png" in normalised(ours.stdout)
