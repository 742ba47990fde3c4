"""to_arrow / to_polars / to_pandas / scan: types, nulls, lists, unicode, filters, projections."""

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from tests.interop.conftest import DIM, make_records


def _dicts(table: pa.Table, keys):
    """Back to Chroma's metadata dicts from the wide columns (nulls dropped)."""
    rows = table.select(keys).to_pylist()
    return [{k: v for k, v in r.items() if v is not None} or None for r in rows]


def test_to_arrow_matches_get(filled):
    got = filled.get(include=["documents", "metadatas", "uris", "embeddings"])
    t = filled.to_arrow()
    assert t.column_names == ["id", "document", "uri", "group", "n", "score", "flag", "tags", "nums", "embedding"]
    assert t.schema.field("embedding").type == pa.list_(pa.float32(), DIM)
    assert t.schema.field("n").type == pa.int64()
    assert t.schema.field("score").type == pa.float64()
    assert t.schema.field("flag").type == pa.bool_()
    assert t.schema.field("tags").type == pa.list_(pa.string())
    assert t.schema.field("nums").type == pa.list_(pa.int64())
    assert t.column("id").to_pylist() == got["ids"]
    assert t.column("document").to_pylist() == got["documents"]
    assert t.column("uri").to_pylist() == got["uris"]
    assert _dicts(t, ["group", "n", "score", "flag", "tags", "nums"]) == got["metadatas"]
    matrix = np.asarray(t.column("embedding").combine_chunks().values).reshape(-1, DIM)
    assert matrix.tobytes() == np.asarray(got["embeddings"], np.float32).tobytes()


def test_filters_include_columns_limit(filled):
    where = {"$and": [{"group": "g1"}, {"n": {"$gte": 10}}]}
    t = filled.to_arrow(where=where, where_document={"$contains": "ünï"}, include=["documents"])
    expected = filled.get(where=where, where_document={"$contains": "ünï"})
    assert t.column_names == ["id", "document"]
    assert t.column("id").to_pylist() == expected["ids"]
    assert filled.to_arrow(columns=["n", "id"]).column_names == ["n", "id"]
    assert filled.to_arrow(ids=["id-00003", "id-00001"], columns=["id"]).column("id").to_pylist() == ["id-00001", "id-00003"]
    assert filled.to_arrow(limit=5, offset=10, columns=["id"]).column("id").to_pylist() == filled.get(limit=5, offset=10)["ids"]
    assert filled.to_arrow(where={"group": "none"}).num_rows == 0
    with pytest.raises(ValueError, match="unknown column 'nope'"):
        filled.to_arrow(columns=["nope"])
    with pytest.raises(Exception) as from_get:
        filled.get(where={"$bad": 1})
    with pytest.raises(type(from_get.value), match=str(from_get.value)):
        filled.to_arrow(where={"$bad": 1})


def test_raw_metadata_column(filled):
    t = filled.to_arrow(columns=["id", "metadata"])
    from chroma_frame.storage.records import decode_metadata

    assert decode_metadata(t.column("metadata")) == filled.get(include=["metadatas"])["metadatas"]


def test_polars_and_pandas(filled):
    df = filled.to_polars()
    assert df.schema["embedding"] == pl.Array(pl.Float32, DIM)
    assert df.schema["tags"] == pl.List(pl.String)
    assert df["id"].to_list() == filled.get()["ids"]
    assert df.filter(pl.col("n") == 7)["document"].to_list() == ["document 7 — ünïcödé ✓ 文字"]
    pdf = filled.to_pandas()
    assert list(pdf.columns) == df.columns
    assert pdf["embedding"].iloc[0].dtype == np.float32
    assert pdf["document"].isna().tolist() == [d is None for d in filled.get()["documents"]]
    assert pdf["nums"].iloc[1].tolist() == [1, 2, -1]


def test_type_rule_for_varying_keys(client):
    col = client.create_collection("mixed", embedding_function=None)
    col.add(ids=["a", "b", "c", "d"], embeddings=np.eye(4, dtype=np.float32).tolist(),
            metadatas=[{"num": 1, "mix": "x", "lst": 1, "id": "clash"},
                       {"num": 2.5, "mix": 3, "lst": [2, 3]},
                       {"mix": True, "lst": [4.5]},
                       {"mix": 1.5}])
    t = col.to_arrow()
    assert t.schema.field("num").type == pa.float64()
    assert t.column("num").to_pylist() == [1.0, 2.5, None, None]
    assert t.schema.field("mix").type == pa.string()
    assert t.column("mix").to_pylist() == ["x", "3", "true", "1.5"]
    assert t.schema.field("lst").type == pa.list_(pa.float64())
    assert t.column("lst").to_pylist() == [[1.0], [2.0, 3.0], [4.5], None]
    assert t.column("metadata.id").to_pylist() == ["clash", None, None, None]


def test_empty_collection(client):
    col = client.create_collection("empty", embedding_function=None)
    t = col.to_arrow()
    assert t.num_rows == 0 and t.column_names == ["id", "document", "uri", "embedding"]
    assert col.to_polars().height == 0
    assert col.scan().collect().height == 0
    assert "0 records" in col._repr_html_()


def test_scan_pushdown(filled):
    lf = filled.scan(batch_size=7)
    assert lf.collect().equals(filled.to_polars())
    got = lf.filter(pl.col("flag") & (pl.col("n") > 20)).select("id", "n").collect()
    expected = filled.to_polars().filter(pl.col("flag") & (pl.col("n") > 20)).select("id", "n")
    assert got.equals(expected)
    assert lf.head(3).collect()["id"].to_list() == filled.get(limit=3)["ids"]
    assert lf.select(pl.len()).collect().item() == filled.count()
    assert "chroma_frame[filled]" in lf.select("id").explain()


def test_scan_builds_only_needed_columns(filled, monkeypatch):
    from chroma_frame.interop import table as tb

    expected = filled.to_arrow(where={"group": "g2"}).num_rows
    built = []
    real = tb.build

    def spy(snap, positions, columns, lay=None):
        built.append((len(positions), tuple(columns)))
        return real(snap, positions, columns, lay)

    monkeypatch.setattr(tb, "build", spy)
    out = filled.scan().filter(pl.col("group") == "g2").select("id").collect()
    assert out.height == expected
    assert built and all("embedding" not in cols for _, cols in built)
    assert built[-1][0] == out.height  # the projected columns of the matching rows only


def test_scan_is_a_snapshot(filled):
    lf = filled.scan()
    filled.add(ids=["late"], embeddings=[[0.0] * DIM])
    assert lf.collect().height == 60
    assert filled.scan().collect().height == 61


def test_repr_html(filled):
    html = filled._repr_html_()
    assert "Collection &#x27;filled&#x27;: 60 records" in html
    assert "ünïcödé" in html and "50 more rows" in html


def test_no_per_row_python_on_the_way_out(client):
    """A 20k-row to_arrow runs in well under a second (regression guard for per-row loops)."""
    import time

    ids, emb, docs, _metas, _uris = make_records(20_000, seed=1)
    col = client.create_collection("big", embedding_function=None)
    col.ingest(pa.table({"id": ids, "document": docs,
                         "embedding": pa.FixedSizeListArray.from_arrays(pa.array(emb.reshape(-1)), DIM),
                         "n": list(range(20_000))}), progress=False)
    col.to_arrow()
    start = time.perf_counter()
    t = col.to_arrow()
    assert t.num_rows == 20_000
    assert time.perf_counter() - start < 1.0
