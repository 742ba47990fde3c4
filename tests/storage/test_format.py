"""The on-disk format: what docs/storage.md promises, checked on real files."""

import glob
import json
import os
import re

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

import chroma_frame
from chroma_frame.storage.records import decode_metadata, encode_metadata
from tests.conftest import ROOT
from tests.layout import manifest_path

scalars = st.one_of(st.text(max_size=5), st.integers(-(2**63), 2**63 - 1), st.booleans(),
                    st.floats(allow_nan=False, allow_infinity=False))
lists = st.one_of(*(st.lists(s, min_size=1, max_size=3) for s in
                    (st.text(max_size=3), st.integers(-5, 5), st.booleans(), st.floats(-1, 1))))
metadatas = st.one_of(st.none(), st.dictionaries(st.text(min_size=1, max_size=4), st.one_of(scalars, lists),
                                                 min_size=1, max_size=4))


@given(st.lists(metadatas, max_size=6))
@settings(max_examples=200)
def test_metadata_long_form_round_trips(values):
    decoded = decode_metadata(encode_metadata(values))
    assert decoded == values
    for got, want in zip(decoded, values):  # types survive: True stays bool, 1 stays int, 1.0 stays float
        for k in (want or {}):
            assert type(got[k]) is type(want[k])


def _collection_dir(path, col):
    return os.path.join(path, "collections", str(col.id))


def _fill(path):
    col = chroma_frame.PersistentClient(path=path).create_collection("coll", embedding_function=None)
    col.add(ids=["a", "b", "c"], embeddings=[[1, 0], [0, 1], [1, 1]], documents=["x", "y", "z"],
            metadatas=[{"n": 1}, {"tags": ["p", "q"]}, None])
    col.compact()
    col.update(ids="a", metadatas={"n": 2})
    col.delete(ids="b")
    col.add(ids=["d"], embeddings=[[2, 2]])
    return col


def test_log_entries_are_arrow_ipc_streams_and_blockfiles_arrow_files(tmp_path):
    col = _fill(str(tmp_path))
    root = _collection_dir(str(tmp_path), col)
    logs = sorted(glob.glob(f"{root}/log/*.arrow"))
    assert [os.path.basename(p) for p in logs] == [f"{s:020d}.arrow" for s in (1, 2, 3, 4)]  # 1: history
    first = pa.ipc.open_stream(open(logs[1], "rb").read()).read_all()
    assert first.column("id").to_pylist() == ["a"] and first.schema.field("embedding").type == pa.list_(pa.float32(), 2)
    manifest = json.load(open(manifest_path(root)))
    assert manifest["log_upto"] == 1 and manifest["dimension"] == 2
    block = pa.ipc.open_file(f"{root}/{manifest['blockfiles'][0]['path']}").read_all()
    assert sorted(block.column("id").to_pylist()) == ["a", "b", "c"]


def test_stale_temporary_files_are_ignored(tmp_path):
    col = _fill(str(tmp_path))
    root = _collection_dir(str(tmp_path), col)
    open(f"{root}/log/{99:020d}.arrow.deadbeef.tmp", "wb").write(b"half a write")
    open(f"{manifest_path(root)}.cafe.tmp", "wb").write(b"{")
    chroma_frame.Client.clear_system_cache()
    again = chroma_frame.PersistentClient(path=str(tmp_path)).get_collection("coll", embedding_function=None)
    assert again.get()["ids"] == ["a", "c", "d"]
    again.add(ids=["e"], embeddings=[[3, 3]])
    assert again.count() == 4


def _doc_blocks(name):
    text = open(os.path.join(ROOT, "docs", "storage.md")).read()
    return re.findall(rf"```{name}\n(.*?)```", text, re.S)


def test_docs_polars_recipe_reads_the_current_state(tmp_path):
    col = _fill(str(tmp_path))
    code = _doc_blocks("python")[1].replace("<path>", str(tmp_path)).replace("<id>", str(col.id))
    scope: dict = {}
    exec(code, scope)
    current = scope["current"]
    assert current["id"].to_list() == ["a", "c", "d"]
    assert current["document"].to_list() == ["x", "z", None]


def test_docs_duckdb_recipe_reads_blockfiles(tmp_path):
    col = _fill(str(tmp_path))
    col.compact()
    code = _doc_blocks("python")[0].replace("<path>", str(tmp_path)).replace("<id>", str(col.id))
    scope: dict = {}
    exec(code, scope)
    rows = scope["current"]
    assert [r[0] for r in rows] == ["a", "c", "d"]
    assert rows[0][1] == "x" and list(rows[2][3]) == [2.0, 2.0]


def test_filter_metadata_of_a_slice_holding_nulls():
    """A snapshot's metadata column can be a slice of a log entry with null rows; the filters' view
    of it (``scalar_metadata``) must read it (pyarrow refuses a sliced offsets buffer with a mask)."""
    from chroma_frame.storage.records import decode_metadata, encode_metadata, scalar_metadata

    sliced = encode_metadata([{"a": 1}, None, {"b": "x"}, None, {"a": 2}]).slice(1, 3)
    view = scalar_metadata(sliced)
    assert [None if row is None else [(e["key"], e["str_value"]) for e in row] for row in view.to_pylist()] == [
        None, [("b", "x")], None]
    assert decode_metadata(sliced) == [None, {"b": "x"}, None]


def test_filter_metadata_of_a_slice_without_nulls():
    from chroma_frame.storage.records import as_metadata, decode_metadata, encode_metadata, scalar_metadata

    sliced = encode_metadata([{"a": 1}, None, {"b": "x"}, {"c": True}, {"a": 2}]).slice(2, 2)
    assert [len(row) for row in scalar_metadata(sliced).to_pylist()] == [1, 1]
    assert decode_metadata(as_metadata(sliced)) == [{"b": "x"}, {"c": True}]
