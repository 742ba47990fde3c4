"""docs/embeddings.md's tables say what the registry holds: names, classes, key variables."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from chroma_frame.embeddings import known_embedding_functions, sparse_known_embedding_functions

DOC = Path(__file__).resolve().parents[2] / "docs" / "embeddings.md"
REGISTRY = {**known_embedding_functions, **sparse_known_embedding_functions}


def _rows() -> list[tuple[list[str], list[str], str]]:
    rows = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`") and cells[0] != "`name()`":
            names = re.findall(r"`([^`]+)`", cells[0])
            classes = re.findall(r"`([^`]+)`", cells[1])
            rows.append((names, classes, cells[2].strip("`")))
    return rows


def test_tables_match_the_registry():
    documented = set()
    for names, classes, env in _rows():
        for i, name in enumerate(names):
            cls = REGISTRY[name]
            assert cls.__name__ == classes[min(i, len(classes) - 1)], name
            default = inspect.signature(cls.__init__).parameters.get("api_key_env_var")
            assert env == (default.default or "" if default is not None else ""), name
            documented.add(name)
    assert documented == set(REGISTRY) - {"open_clip"}  # OpenCLIP: the multimodal docs


def test_every_chroma_name_is_documented_or_listed_as_missing():
    from chromadb.utils import embedding_functions as chroma

    text = DOC.read_text(encoding="utf-8")
    missing = text[text.index("## Not available"):]
    for name, cls in {**chroma.known_embedding_functions, **chroma.sparse_known_embedding_functions}.items():
        if name == "open_clip" or not cls.__module__.startswith("chromadb."):
            continue  # another test's own function, registered in chromadb at run time
        assert name in REGISTRY or f"`{name}`" in missing, name
        if f"`{name}`" in missing:
            assert name not in REGISTRY


def test_a_collection_with_an_unavailable_function_opens(monkeypatch):
    import chroma_frame
    from chroma_frame.embeddings import EmbeddingFunction

    class Vertex(EmbeddingFunction):
        def __init__(self) -> None:
            pass

        def __call__(self, input):
            return [[1.0, 2.0] for _ in input]

        @staticmethod
        def name() -> str:
            return "google_vertex"

        def get_config(self):
            return {"model_name": "textembedding-gecko"}

        @staticmethod
        def build_from_config(config):
            return Vertex()

    client = chroma_frame.EphemeralClient()
    col = client.create_collection("made-with-vertex", embedding_function=Vertex())
    col.add(ids=["a"], documents=["text"])
    monkeypatch.delitem(known_embedding_functions, "google_vertex")  # a process that does not have it
    reopened = client.get_collection("made-with-vertex")
    assert reopened.get(ids=["a"])["documents"] == ["text"]
    with pytest.raises(ValueError, match="google_vertex"):
        reopened.add(ids=["b"], documents=["more"])
    client.delete_collection("made-with-vertex")
