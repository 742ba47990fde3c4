"""benchmarks/scale_data.py: seeded, the same whatever the chunking, unit vectors, exact top-k."""

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import scale_data  # noqa: E402


def test_seeded_chunked_and_exact(monkeypatch):
    monkeypatch.setattr(scale_data, "GROUPS_PER_CHUNK", 12)  # several chunks of a small set
    data = scale_data.ClusteredData(1_000, dim=16)
    table = pa.Table.from_batches(list(data.batches()))
    assert table.num_rows == 1_000 and table.column("id")[7].as_py() == "r7"
    assert pa.Table.from_batches(list(scale_data.ClusteredData(1_000, dim=16).batches())).equals(table)
    assert data.chunk(2).equals(table.to_batches()[2])  # any chunk on its own, as in the whole

    x = table.column("embedding").combine_chunks().values.to_numpy().reshape(-1, 16)
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    assert set(table.column("shard").to_pylist()) == set(range(20))

    queries = data.queries(5)
    top = scale_data.exact_top_k(iter(table.to_batches(max_chunksize=300)), queries, k=10)
    brute = np.argsort(1.0 - queries @ x.T, axis=1, kind="stable")[:, :10]
    assert (np.sort(top, axis=1) == np.sort(brute, axis=1)).all()

    shard = table.column("shard").to_numpy()
    masked = scale_data.exact_top_k(iter(table.to_batches(max_chunksize=300)), queries, k=10,
                                    mask_of=lambda b: b.column("shard").to_numpy() == 3)
    assert (shard[masked] == 3).all()
