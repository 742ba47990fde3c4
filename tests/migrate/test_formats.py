"""The readers of Chroma's files on their own: the id map (plain data only, never unpickled) and the
cosine vectors hnswlib gives back."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest

from chroma_frame.migration.hnsw import unit_times_norm
from chroma_frame.migration.idmap import IdMapError, decode


class Thing:
    def __reduce__(self):
        return (print, ("this would run when unpickled",))


@pytest.mark.parametrize("protocol", [3, 4, 5])  # serde_pickle writes protocol 3
def test_plain_data_is_decoded(protocol):
    value = {"dimensionality": None, "total_elements_added": 3, "max_seq_id": 2**40,
             "id_to_label": {"a": 1, "b": 2, "é": 70000}, "label_to_id": {1: "a", 2: "b", 70000: "é"},
             "nested": [1.5, True, False, (1, "x"), b"raw", -5, 2**70]}
    assert decode(io.BytesIO(pickle.dumps(value, protocol=protocol))) == value


@pytest.mark.parametrize("payload", [Thing(), [Thing()], {"id_to_label": Thing()}, np.float32(1.0)])
def test_objects_and_calls_are_refused(payload):
    with pytest.raises(IdMapError, match="not the plain data"):
        decode(io.BytesIO(pickle.dumps(payload)))


def test_truncated_pickles_are_refused():
    data = pickle.dumps({"id_to_label": {"a": 1}})
    with pytest.raises((IdMapError, ValueError)):
        decode(io.BytesIO(data[:-3]))


def test_unit_times_norm_is_float32_and_close():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((50, 17)).astype(np.float32) * 30
    back = unit_times_norm(vectors)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, vectors, rtol=1e-6, atol=1e-6)
    assert np.array_equal(unit_times_norm(np.zeros((1, 4), np.float32)), np.zeros((1, 4), np.float32))


def test_a_collection_stored_before_schemas_keeps_its_configuration():
    from chroma_frame.migration.catalog import collection_record, space_of
    from chroma_frame.migration.sqlite_source import SourceCollection

    def record(config, metadata=None):
        return collection_record(SourceCollection(
            id="00000000-0000-0000-0000-00000000000a", name="old", tenant="default_tenant",
            database="default_database", dimension=3, metadata=metadata, config=config, schema=None,
            metadata_segment="m", vector_segment="v"))

    newer = record({"hnsw": {"space": "ip", "ef_search": 50}, "embedding_function": {"type": "legacy"}})
    assert space_of(newer) == "ip" and newer["configuration_json"]["hnsw"]["ef_search"] == 50
    assert newer["configuration_json"]["embedding_function"] == {"type": "legacy"}
    older = record({"hnsw_configuration": {"space": "cosine", "M": 32, "_type": "HNSWConfigurationInternal"}})
    assert space_of(older) == "cosine" and older["configuration_json"]["hnsw"]["max_neighbors"] == 32
    by_metadata = record({}, {"hnsw:space": "cosine"})
    assert space_of(by_metadata) == "cosine" and by_metadata["metadata"] == {"hnsw:space": "cosine"}


def test_an_id_map_holding_objects_stops_the_copy_before_the_collection_is_made(chroma_source, tmp_path):
    import glob
    import os
    import shutil

    import chroma_frame

    source = str(tmp_path / "chroma")
    shutil.copytree(chroma_source, source)
    (id_map,) = glob.glob(os.path.join(source, "*", "index_metadata.pickle"))
    with open(id_map, "wb") as f:
        pickle.dump({"id_to_label": Thing()}, f)
    target = str(tmp_path / "frame")
    with pytest.raises(IdMapError, match="never unpickles"):
        chroma_frame.migrate(source, target, progress=False)
    names = [c.name for c in chroma_frame.PersistentClient(target).list_collections()]
    assert names == ["l2-docs"]  # copied before; cos-big (whose map is refused) was not created
