"""Reading a Parquet source holds about one batch, however large the file (10M rows must stream)."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from chroma_frame.interop.sources import open_source


def test_reading_a_parquet_file_holds_one_batch_not_the_file(tmp_path):
    rows, dim, group = 100_000, 32, 1_000
    path = tmp_path / "big.parquet"
    flat = np.random.default_rng(0).standard_normal(rows * dim).astype(np.float32)
    table = pa.table({"id": [f"r{i}" for i in range(rows)],
                      "embedding": pa.FixedSizeListArray.from_arrays(pa.array(flat), dim)})
    pq.write_table(table, path, row_group_size=group, compression="none")
    del table, flat
    file_bytes = rows * dim * 4

    source = open_source(str(path))
    before = pa.total_allocated_bytes()
    peak, seen = 0, 0
    for part in source.open(["id", "embedding"], group):
        seen += part.num_rows
        peak = max(peak, pa.total_allocated_bytes() - before)
    assert seen == rows
    assert peak < file_bytes / 4, f"reading held {peak / 2**20:.1f} MB of a {file_bytes / 2**20:.1f} MB file"
