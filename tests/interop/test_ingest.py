"""collection.ingest: every input kind, embedding, add's validation, failures mid-way, upsert."""

import math

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from chroma_frame.interop.ingest import IngestError, IngestSummary
from tests.interop.conftest import DIM, CountingEF, make_records

N = 250


def source_table(n: int = N, seed: int = 0) -> pa.Table:
    ids, emb, docs, metas, uris = make_records(n, seed)
    keys = ["group", "n", "score", "flag", "tags", "nums"]
    cols = {"id": ids, "document": docs, "uri": uris}
    for k in keys:
        cols[k] = [None if m is None else m.get(k) for m in metas]
    cols["embedding"] = pa.FixedSizeListArray.from_arrays(pa.array(emb.reshape(-1)), DIM)
    return pa.table(cols)


def reference(client, table: pa.Table):
    """The same rows through plain add (Chroma's API)."""
    col = client.create_collection("reference", embedding_function=None)
    rows = table.to_pylist()
    metas = [{k: v for k, v in r.items() if k not in ("id", "document", "uri", "embedding") and v is not None} or None
             for r in rows]
    col.add(ids=[r["id"] for r in rows], embeddings=[r["embedding"] for r in rows],
            documents=[r["document"] for r in rows], uris=[r["uri"] for r in rows], metadatas=metas)
    return col.get(include=["documents", "metadatas", "uris", "embeddings"])


def _same(col, expected):
    got = col.get(include=["documents", "metadatas", "uris", "embeddings"])
    assert got["ids"] == expected["ids"]
    assert got["documents"] == expected["documents"]
    assert got["uris"] == expected["uris"]
    assert got["metadatas"] == expected["metadatas"]
    assert np.asarray(got["embeddings"]).tobytes() == np.asarray(expected["embeddings"]).tobytes()


def _kinds(table: pa.Table, tmp_path):
    pq.write_table(table, tmp_path / "one.parquet")
    parts = tmp_path / "parts"
    parts.mkdir()
    for i, start in enumerate(range(0, table.num_rows, 100)):
        pq.write_table(table.slice(start, 100), parts / f"part-{i}.parquet", row_group_size=30)
    return {
        "arrow_table": lambda: table,
        "record_batch_reader": lambda: pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=33)),
        "dataset": lambda: ds.dataset(str(parts), format="parquet"),
        "polars": lambda: pl.from_arrow(table),
        "polars_lazy": lambda: pl.from_arrow(table).lazy().filter(pl.col("id").is_not_null()),
        "pandas": lambda: table.to_pandas(),
        "parquet_path": lambda: str(tmp_path / "one.parquet"),
        "parquet_glob": lambda: str(parts / "part-*.parquet"),
        "parquet_dir": lambda: parts,
    }


@pytest.mark.parametrize("kind", ["arrow_table", "record_batch_reader", "dataset", "polars", "polars_lazy", "pandas",
                                  "parquet_path", "parquet_glob", "parquet_dir"])
def test_every_input_kind(client, tmp_path, kind):
    table = source_table()
    expected = reference(client, table)
    col = client.create_collection("ingested", embedding_function=None)
    summary = col.ingest(_kinds(table, tmp_path)[kind](), batch_size=64, progress=False)
    assert isinstance(summary, IngestSummary)
    assert (summary.rows_read, summary.rows_written, summary.batches) == (N, N, math.ceil(N / 64))
    assert summary.seconds > 0 and summary.rows_per_second > 0
    _same(col, expected)


def test_one_log_entry_per_batch_beyond_chroma_batch_limit(client):
    table = source_table(6000)
    col = client.create_collection("big", embedding_function=None)
    before = col._store.snapshot().last_seq
    summary = col.ingest(table, batch_size=6000, progress=False)
    assert summary.batches == 1 and col._store.snapshot().last_seq == before + 1
    assert col.count() == 6000


def test_column_names_and_mapping(client):
    t = pa.table({"key": ["a", "b"], "text": ["x", "y"], "vec": [[1.0, 2.0], [3.0, 4.0]], "link": ["u", None],
                  "Color": ["red", None], "skip": [1, 2]})
    col = client.create_collection("named", embedding_function=None)
    col.ingest(t, id_column="key", document_column="text", embedding_column="vec", uri_column="link",
               metadata_columns={"Color": "color"}, progress=False)
    got = col.get(include=["documents", "metadatas", "uris", "embeddings"])
    assert got["ids"] == ["a", "b"] and got["documents"] == ["x", "y"] and got["uris"] == ["u", None]
    assert got["metadatas"] == [{"color": "red"}, None]
    with pytest.raises(ValueError, match="no id column 'id'"):
        col.ingest(t, progress=False)


def test_types_are_normalised(client):
    t = pa.table({
        "id": pa.array(["a", "b"], pa.large_string()),
        "embedding": pa.array([[1, 2], [3, 4]], pa.list_(pa.int32())),
        "cat": pa.array(["x", "y"]).dictionary_encode(),
        "small": pa.array([1, 2], pa.uint8()),
        "f32": pa.array([0.5, None], pa.float32()),
        "allnull": pa.nulls(2),
    })
    col = client.create_collection("types", embedding_function=None)
    col.ingest(t, progress=False)
    got = col.get(include=["metadatas", "embeddings"])
    assert got["metadatas"] == [{"cat": "x", "small": 1, "f32": 0.5}, {"cat": "y", "small": 2}]
    assert np.asarray(got["embeddings"]).tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_missing_embeddings_are_embedded_in_batches(client):
    ef = CountingEF()
    col = client.create_collection("embedded", embedding_function=ef)
    n = 2500
    emb = np.random.default_rng(0).standard_normal((n, DIM)).astype(np.float32)
    given = [None if i % 2 else emb[i].tolist() for i in range(n)]
    t = pa.table({"id": [str(i) for i in range(n)], "document": [f"text {i}" for i in range(n)],
                  "embedding": pa.array(given, pa.list_(pa.float32()))})
    summary = col.ingest(t, batch_size=2000, progress=False)
    assert summary.rows_embedded == n // 2
    assert max(ef.calls) <= 1024 and sum(ef.calls) == n // 2
    got = col.get(ids=["0", "1"], include=["embeddings"])
    assert np.asarray(got["embeddings"][0]).tobytes() == emb[0].tobytes()
    assert np.asarray(got["embeddings"][1]).tobytes() == np.asarray(ef(["text 1"])[0], np.float32).tobytes()
    ef.calls.clear()
    col.ingest(pa.table({"id": ["new", "0"], "document": ["fresh", "again"]}), progress=False)
    assert ef.calls == [1]  # add skips ids already there: "0" is not embedded again


def _error_of(fn):
    try:
        fn()
    except IngestError as e:
        return e.error
    except Exception as e:
        return e
    return None


@pytest.mark.parametrize("case", ["duplicate", "int_id", "null_id", "empty_id", "reserved_key", "bad_key", "empty_list",
                                  "nan", "ragged", "dimension", "no_ef", "document_type"])
def test_errors_are_adds_errors(client, case):
    e = np.ones((2, 3), np.float32)
    cases = {
        "duplicate": (dict(ids=["a", "a"], embeddings=e), {"id": ["a", "a"], "embedding": e.tolist()}),
        "int_id": (dict(ids=[1, 2], embeddings=e), {"id": [1, 2], "embedding": e.tolist()}),
        "null_id": (dict(ids=["a", None], embeddings=e), {"id": ["a", None], "embedding": e.tolist()}),
        "empty_id": (dict(ids=["a", ""], embeddings=e), {"id": ["a", ""], "embedding": e.tolist()}),
        "reserved_key": (dict(ids=["a", "b"], embeddings=e, metadatas=[{"chroma:document": "x"}, None]),
                         {"id": ["a", "b"], "embedding": e.tolist(), "chroma:document": ["x", None]}),
        "bad_key": (dict(ids=["a", "b"], embeddings=e, metadatas=[None, {"$k": 1}]),
                    {"id": ["a", "b"], "embedding": e.tolist(), "$k": [None, 1]}),
        "empty_list": (dict(ids=["a", "b"], embeddings=e, metadatas=[{"l": [1]}, {"l": []}]),
                       {"id": ["a", "b"], "embedding": e.tolist(), "l": [[1], []]}),
        "nan": (dict(ids=["a", "b"], embeddings=[[1.0, 2.0, 3.0], [1.0, math.inf, 3.0]]),
                {"id": ["a", "b"], "embedding": [[1.0, 2.0, 3.0], [1.0, math.inf, 3.0]]}),
        "ragged": (dict(ids=["a", "b"], embeddings=[[1.0, 2.0], [1.0, 2.0, 3.0]]),
                   {"id": ["a", "b"], "embedding": [[1.0, 2.0], [1.0, 2.0, 3.0]]}),
        "dimension": (dict(ids=["a", "b"], embeddings=np.ones((2, 5))), {"id": ["a", "b"], "embedding": np.ones((2, 5)).tolist()}),
        "no_ef": (dict(ids=["a", "b"], documents=["x", "y"]), {"id": ["a", "b"], "document": ["x", "y"]}),
        "document_type": (dict(ids=["a", "b"], embeddings=e, documents=["x", 3]),
                          {"id": ["a", "b"], "embedding": e.tolist(), "document": ["x", "3"]}),
    }
    add_args, columns = cases[case]
    if case == "document_type":
        columns["document"] = pa.array([1, 3])  # a non-string column
        add_args["documents"] = [1, 3]
    via_add = client.create_collection("via-add", embedding_function=None)
    via_ingest = client.create_collection("via-ingest", embedding_function=None)
    for col in (via_add, via_ingest):
        col.add(ids=["seed"], embeddings=[[0.0, 0.0, 0.0]])
    expected = _error_of(lambda: via_add.add(**add_args))
    got = _error_of(lambda: via_ingest.ingest(pa.table(columns), progress=False))
    assert expected is not None
    assert (type(got), str(got)) == (type(expected), str(expected))
    assert via_ingest.count() == 1


def test_datetime_columns_become_iso_strings(client):
    """pandas and Polars datetime columns: ISO 8601 strings (Chroma metadata has no time type)."""
    import datetime

    import pandas as pd

    frame = pd.DataFrame({
        "id": ["a", "b"], "embedding": [np.ones(2), np.zeros(2)],
        "when": pd.to_datetime(["2024-01-01", "2024-06-01T12:30:00.5"], format="ISO8601"),
        "day": [datetime.date(2024, 1, 1), None],
        "zoned": pd.to_datetime(["2024-01-01T10:00", "2024-07-01T10:00"]).tz_localize("Europe/Paris"),
    })
    col = client.create_collection("dates", embedding_function=None)
    col.ingest(frame, progress=False)
    first, second = col.get(include=["metadatas"])["metadatas"]
    assert first == {"when": "2024-01-01T00:00:00", "day": "2024-01-01", "zoned": "2024-01-01T10:00:00+0100"}
    assert second["when"].rstrip("0") == "2024-06-01T12:30:00.5"  # the fraction in the column's unit
    assert datetime.datetime.fromisoformat(second["zoned"]) == datetime.datetime.fromisoformat("2024-07-01T10:00:00+02:00")
    polars_frame = pl.DataFrame({"id": ["c"], "embedding": [[1.0, 1.0]], "when": [datetime.datetime(2025, 3, 4, 5, 6, 7)]})
    col.ingest(polars_frame, progress=False)
    assert col.get(ids=["c"], where={"when": "2025-03-04T05:06:07"})["ids"] == ["c"]


def test_a_column_of_an_unstorable_type_is_named_with_the_fix(client):
    import pandas as pd

    col = client.create_collection("durations", embedding_function=None)
    frame = pd.DataFrame({"id": ["a"], "embedding": [np.ones(2)], "when": pd.to_datetime(["2024-01-01"]),
                          "took": pd.to_timedelta([3], unit="s")})
    with pytest.raises(IngestError) as failed:
        col.ingest(frame, progress=False)
    assert "metadata column 'took' has type duration" in str(failed.value) and "convert it first" in str(failed.value)
    assert col.count() == 0


def test_failure_in_the_middle_keeps_committed_batches(client, tmp_path):
    table = source_table(500)
    ids = table.column("id").to_pylist()
    ids[320] = ids[310]  # a duplicate inside the 4th batch of 100
    broken = table.set_column(0, "id", pa.array(ids))
    pq.write_table(broken, tmp_path / "broken.parquet", row_group_size=64)
    col = client.create_collection("resume", embedding_function=None)
    with pytest.raises(IngestError) as info:
        col.ingest(str(tmp_path / "broken.parquet"), batch_size=100, progress=False)
    err = info.value
    assert (err.rows_committed, err.rows_written, err.batches_committed) == (300, 300, 3)
    assert "committing 300 source rows in 3 batches" in str(err) and "skip_rows=300" in str(err)
    assert type(err.__cause__).__name__ == "DuplicateIDError"
    assert col.count() == 300
    assert col.get()["ids"] == ids[:300]
    # resume after fixing the source: skip what is committed
    summary = col.ingest(table, batch_size=100, skip_rows=err.rows_committed, progress=False)
    assert (summary.rows_read, summary.rows_written) == (200, 200)
    # or rerun everything with add: committed ids are skipped
    again = col.ingest(table, batch_size=100, progress=False)
    assert (again.rows_written, again.rows_skipped) == (0, 500)
    _same(col, reference(client, table))


def test_failure_in_embedding_reports_committed_rows(client):
    class Flaky(CountingEF):
        def __call__(self, input):
            if any(t == "boom" for t in input):
                raise RuntimeError("embedding service down")
            return super().__call__(input)

    col = client.create_collection("flaky", embedding_function=Flaky())
    docs = [f"d{i}" for i in range(30)]
    docs[25] = "boom"
    with pytest.raises(IngestError, match="embedding service down") as info:
        col.ingest(pa.table({"id": [str(i) for i in range(30)], "document": docs}), batch_size=10, progress=False)
    assert info.value.rows_committed == 20 and col.count() == 20


def test_upsert_merges_like_upsert(client):
    col = client.create_collection("ups", embedding_function=None)
    twin = client.create_collection("up-twin", embedding_function=None)
    for c in (col, twin):
        c.add(ids=["a", "b"], embeddings=[[1.0, 0.0], [0.0, 1.0]], documents=["old a", "old b"],
              metadatas=[{"k": 1, "keep": "y"}, None])
    col.ingest(pa.table({"id": ["b", "c", "a"], "document": ["new b", "new c", None],
                         "embedding": [[0.5, 0.5], [2.0, 2.0], [3.0, 3.0]], "k": [None, 3, 9]}),
               mode="upsert", progress=False)
    twin.upsert(ids=["b", "c", "a"], documents=["new b", "new c", None],
                embeddings=[[0.5, 0.5], [2.0, 2.0], [3.0, 3.0]], metadatas=[None, {"k": 3}, {"k": 9}])
    include = ["documents", "metadatas", "embeddings"]
    a, b = col.get(include=include), twin.get(include=include)
    assert a["ids"] == b["ids"] and a["documents"] == b["documents"] and a["metadatas"] == b["metadatas"]
    assert np.array_equal(a["embeddings"], b["embeddings"])
    with pytest.raises(ValueError, match="mode must be"):
        col.ingest(pa.table({"id": ["x"]}), mode="update")


def test_progress_callback(client):
    seen = []
    col = client.create_collection("progress", embedding_function=None)
    col.ingest(source_table(100), batch_size=30, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(30, 100), (60, 100), (90, 100), (100, 100)]


def test_progress_moves_while_a_batch_embeds(client):
    """One 1000-row batch of documents: the callback hears of every 256 embedded rows, before the write."""
    seen, ef = [], CountingEF()
    col = client.create_collection("progress-embed", embedding_function=ef)
    table = pa.table({"id": [str(i) for i in range(1000)], "document": [f"text {i}" for i in range(1000)]})
    col.ingest(table, progress=lambda done, total: seen.append((done, total, col.count())))
    assert [(done, total) for done, total, _ in seen] == [(256, 1000), (512, 1000), (768, 1000), (1000, 1000),
                                                          (1000, 1000)]
    assert [count for _, _, count in seen] == [0, 0, 0, 0, 1000]  # moved before anything was written


def test_long_form_metadata_column_passes_through(client):
    src = client.create_collection("src", embedding_function=None)
    ids, emb, docs, metas, uris = make_records(40)
    src.add(ids=ids, embeddings=emb, documents=docs, metadatas=metas, uris=uris)
    dst = client.create_collection("dst", embedding_function=None)
    dst.ingest(src.to_arrow(columns=["id", "document", "uri", "metadata", "embedding"]), progress=False)
    _same(dst, src.get(include=["documents", "metadatas", "uris", "embeddings"]))


def test_a_plain_metadata_column_is_a_key(client):
    col = client.create_collection("plain-meta", embedding_function=None)
    col.ingest(pa.table({"id": ["a"], "embedding": [[1.0]], "metadata": ["just text"]}), progress=False)
    assert col.get()["metadatas"] == [{"metadata": "just text"}]
