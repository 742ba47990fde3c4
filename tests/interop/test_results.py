"""FramedQueryResult / FramedGetResult: Chroma's QueryResult / GetResult dicts that also convert to frames."""

import numpy as np
import pyarrow as pa

from chroma_frame.interop.results import FramedGetResult, FramedQueryResult
from tests.conftest import run_python
from tests.interop.conftest import DIM


def test_query_result_one_row_per_hit(filled):
    q = np.random.default_rng(3).standard_normal((3, DIM)).astype(np.float32)
    raw = filled.query(query_embeddings=q, n_results=4, include=["distances", "metadatas", "documents", "embeddings"])
    res = FramedQueryResult(raw)
    assert res == raw  # still the dict Chroma returns
    t = res.to_arrow()
    assert t.column_names[:4] == ["query", "rank", "id", "distance"]
    assert t.column("query").to_pylist() == [0] * 4 + [1] * 4 + [2] * 4
    assert t.column("rank").to_pylist() == [1, 2, 3, 4] * 3
    assert t.column("id").to_pylist() == [i for ids in raw["ids"] for i in ids]
    assert t.column("distance").to_pylist() == [float(np.float32(d)) for ds in raw["distances"] for d in ds]
    assert t.schema.field("embedding").type == pa.list_(pa.float32(), DIM)
    assert t.column("document").to_pylist() == [d for ds in raw["documents"] for d in ds]
    df = res.to_polars()
    assert df.height == 12 and "group" in df.columns
    assert res.to_pandas().shape[0] == 12
    assert "QueryResult: 12 rows" in res._repr_html_()


def test_query_result_without_optional_fields(filled):
    raw = filled.query(query_embeddings=[[0.0] * DIM], n_results=2, include=[])
    assert FramedQueryResult(raw).to_arrow().column_names == ["query", "rank", "id"]


def test_get_result(filled):
    raw = filled.get(limit=10, include=["metadatas", "embeddings", "uris"])
    t = FramedGetResult(raw).to_arrow()
    assert t.column_names == ["id", "uri", "group", "n", "score", "flag", "tags", "nums", "embedding"]
    expected = filled.to_arrow(limit=10, include=["uris", "metadatas", "embeddings"])
    assert t.select(expected.column_names).equals(expected)
    assert FramedGetResult(filled.get(where={"group": "none"})).to_arrow().num_rows == 0


def test_one_class_per_name(filled):
    import chromadb
    import pytest
    from typing_extensions import is_typeddict

    import chroma_frame

    for name in ("QueryResult", "GetResult"):  # Chroma's names are Chroma's TypedDicts
        ours, theirs = getattr(chroma_frame, name), getattr(chromadb, name)
        assert is_typeddict(ours) and is_typeddict(theirs)
        assert ours.__annotations__.keys() == theirs.__annotations__.keys()
    raw = filled.query(query_embeddings=[[0.0] * DIM], n_results=3, include=["distances"])
    assert isinstance(raw, chroma_frame.FramedQueryResult) and raw.to_polars().height == 3
    assert isinstance(filled.get(limit=2), chroma_frame.FramedGetResult)
    plain = dict(raw)  # e.g. from HttpClient or chromadb
    assert chroma_frame.FramedQueryResult(plain).to_polars().equals(raw.to_polars())
    assert chroma_frame.FramedGetResult(dict(filled.get(limit=2))).to_arrow().num_rows == 2
    with pytest.warns(DeprecationWarning, match="FramedQueryResult"):  # the wrappers' former names still import
        from chroma_frame.interop.results import QueryResult
    assert QueryResult is FramedQueryResult
    with pytest.warns(DeprecationWarning, match="FramedGetResult"):
        from chroma_frame.interop.results import GetResult
    assert GetResult is FramedGetResult


def test_importing_chroma_frame_imports_neither_polars_nor_pandas():
    out = run_python("import sys, chroma_frame, chroma_frame.interop.results, chroma_frame.interop.ingest\n"
                     "print('polars' in sys.modules, 'pandas' in sys.modules)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]
