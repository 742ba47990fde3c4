"""export_parquet / import_parquet round-trip exactly; metadata wide <-> long conversions."""

import json

import numpy as np
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chroma_frame.interop.columns import flatten, key_specs, pivot, to_long
from chroma_frame.storage.records import decode_metadata, encode_metadata
from tests.interop.conftest import make_records


def _everything(col):
    return col.get(include=["documents", "metadatas", "uris", "embeddings"])


def _assert_same(a, b):
    assert a["ids"] == b["ids"]
    assert a["documents"] == b["documents"]
    assert a["uris"] == b["uris"]
    assert a["metadatas"] == b["metadatas"]
    for ma, mb in zip(a["metadatas"] or [], b["metadatas"] or []):  # types, not just values (1 == 1.0 == True)
        assert [(k, type(v)) for k, v in sorted((ma or {}).items())] == [(k, type(v)) for k, v in sorted((mb or {}).items())]
    assert np.asarray(a["embeddings"], np.float32).tobytes() == np.asarray(b["embeddings"], np.float32).tobytes()


def test_round_trip_wide(client, filled, tmp_path):
    filled.delete(ids=["id-00002"])
    filled.modify(metadata={"topic": "tests"}, configuration={"hnsw": {"ef_search": 42}})
    path = tmp_path / "out.parquet"
    assert filled.export_parquet(path) == 59
    info = json.loads(pq.read_schema(path).metadata[b"chroma_frame"])
    assert info["metadata_layout"] == "wide" and info["rows"] == 59
    assert pq.read_schema(path).names == filled.to_arrow().column_names
    back = client.import_parquet(path, "back", embedding_function=None)
    _assert_same(_everything(back), _everything(filled))
    assert back.metadata == {"topic": "tests"}
    assert back.configuration_json["hnsw"]["ef_search"] == 42


def test_round_trip_long_when_types_vary(client, tmp_path):
    col = client.create_collection("varying", embedding_function=None)
    col.add(ids=["a", "b", "c", "é✓"], embeddings=np.array([[1e-45, -0.0], [np.pi, 3.4e38], [1, 2], [5, 6]], np.float32),
            metadatas=[{"x": 1}, {"x": 1.0}, {"x": True, "l": [1]}, {"x": "1", "l": 2}], documents=["", None, "z", "ü"])
    path = tmp_path / "v.parquet"
    col.export_parquet(path)
    assert "metadata" in pq.read_schema(path).names
    back = client.import_parquet(path, "varying-back", embedding_function=None)
    _assert_same(_everything(back), _everything(col))


def test_filtered_export(filled, client, tmp_path):
    filled.export_parquet(tmp_path / "g1.parquet", where={"group": "g1"})
    back = client.import_parquet(tmp_path / "g1.parquet", "g1-only", embedding_function=None)
    _assert_same(_everything(back), filled.get(where={"group": "g1"}, include=["documents", "metadatas", "uris", "embeddings"]))


def test_export_is_readable_without_chroma_frame(filled, tmp_path):
    import duckdb
    import polars as pl

    filled.export_parquet(tmp_path / "x.parquet")
    df = pl.read_parquet(tmp_path / "x.parquet")
    assert df.equals(filled.to_polars())
    file = tmp_path / "x.parquet"
    n = duckdb.sql(f"""SELECT count(*) FROM '{file}' WHERE "group" = 'g0'""").fetchone()[0]
    assert n == len(filled.get(where={"group": "g0"})["ids"])


scalars = st.one_of(
    st.text(max_size=8), st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, width=64), st.booleans(),
)
lists = st.one_of(
    st.lists(st.text(max_size=4), min_size=1, max_size=3),
    st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), min_size=1, max_size=3),
    st.lists(st.floats(allow_nan=False), min_size=1, max_size=3),
    st.lists(st.booleans(), min_size=1, max_size=3),
)
metadatas = st.lists(
    st.one_of(st.none(), st.dictionaries(st.sampled_from(["a", "b", "ü", "id", "k k"]), st.one_of(scalars, lists),
                                         min_size=1, max_size=4)),
    min_size=1, max_size=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(metadatas)
def test_long_wide_long_is_exact_when_lossless(metas):
    long = encode_metadata(metas)
    specs = key_specs(flatten(long)[0])
    columns = pivot(long, specs)
    assert all(len(c) == len(metas) for c in columns)
    if all(s.lossless for s in specs):
        again = to_long([(s.key, c) for s, c in zip(specs, columns)], len(metas))
        assert _typed(decode_metadata(again)) == _typed(decode_metadata(long))


def _typed(ms):
    return [None if m is None else sorted((k, repr(v)) for k, v in m.items()) for m in ms]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(metadatas)
def test_export_import_property(client, tmp_path_factory, metas):
    name = f"p{abs(hash(str(metas))) % 10**8:08d}"
    col = client.get_or_create_collection(name, embedding_function=None)
    if col.count():
        return
    n = len(metas)
    col.add(ids=[f"r{i}" for i in range(n)], embeddings=np.random.default_rng(n).standard_normal((n, 3)).astype(np.float32),
            metadatas=metas)
    path = tmp_path_factory.mktemp("prop") / "p.parquet"
    col.export_parquet(path)
    back = client.import_parquet(path, name + "-b", embedding_function=None)
    _assert_same(_everything(back), _everything(col))


def test_ingest_of_to_arrow_round_trips(client, filled):
    back = client.create_collection("again", embedding_function=None)
    back.ingest(filled.to_polars(), progress=False)
    _assert_same(_everything(back), _everything(filled))
    back2 = client.create_collection("again-pandas", embedding_function=None)
    back2.ingest(filled.to_pandas(), progress=False)
    got, want = _everything(back2), _everything(filled)
    assert got["ids"] == want["ids"] and got["documents"] == want["documents"]
    assert np.array_equal(got["embeddings"], want["embeddings"])


def test_make_records_has_all_shapes():
    _, _, docs, metas, uris = make_records(20)
    assert None in docs and None in metas and None in uris
    kinds = {type(v).__name__ + ("[]" if isinstance(v, list) else "") for m in metas if m for v in m.values()}
    assert {"str", "int", "float", "bool", "list[]"} <= kinds


def test_import_keeps_the_embedding_function_the_file_describes(client, tmp_path, monkeypatch):
    from chroma_frame.embeddings.openai import OpenAIEmbeddingFunction

    monkeypatch.setenv("CF_TEST_OPENAI_KEY", "sk-test")
    col = client.create_collection("described", embedding_function=OpenAIEmbeddingFunction(api_key_env_var="CF_TEST_OPENAI_KEY"))
    col.add(ids=["a"], embeddings=[[1.0, 2.0]])
    col.export_parquet(tmp_path / "d.parquet")
    back = client.import_parquet(tmp_path / "d.parquet", "described-back")
    assert back.configuration_json["embedding_function"] == col.configuration_json["embedding_function"]
    assert back.configuration_json["embedding_function"]["name"] == "openai"
    mine = client.import_parquet(tmp_path / "d.parquet", "described-none", embedding_function=None)
    assert mine.configuration_json["embedding_function"] == {"type": "legacy"}  # the caller's choice wins
