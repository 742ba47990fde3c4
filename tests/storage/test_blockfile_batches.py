"""A blockfile is one record batch (its embeddings one zero-copy matrix), unless its strings are
too large for Arrow's 32-bit offsets: then it is split, and nothing is lost."""

import numpy as np
import pyarrow as pa

from chroma_frame.storage import blockfile
from chroma_frame.storage.fs import Storage
from chroma_frame.storage.records import PUT, build_rows


def _parts(n, per, dim=4, doc=""):
    rng = np.random.default_rng(0)
    for start in range(0, n, per):
        ids = [f"r{i}" for i in range(start, min(n, start + per))]
        yield build_rows(dimension=dim, seqs=1, rowids=range(start, start + len(ids)), ops=PUT, ids=ids,
                         documents=[doc + i for i in ids], embeddings=rng.standard_normal((len(ids), dim)).astype(np.float32))


def _written(tmp_path, parts):
    parts = list(parts)
    storage = Storage.local(str(tmp_path))
    ref = blockfile.write_blockfile(storage, "c", iter(parts), parts[0].schema)
    return pa.concat_tables(parts), blockfile.read_blockfile(storage, "c", ref)


def test_many_parts_make_one_batch(tmp_path):
    expected, table = _written(tmp_path, _parts(100_000, 7_000))
    assert len(table.to_batches()) == 1
    assert table.equals(expected)


def test_large_strings_split_the_blockfile_and_keep_every_row(tmp_path, monkeypatch):
    monkeypatch.setattr(blockfile, "BATCH_VAR_BYTES", 50_000)
    expected, table = _written(tmp_path, _parts(3_000, 100, doc="x" * 100))
    assert len(table.to_batches()) > 1
    assert table.equals(expected)
