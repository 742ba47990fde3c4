"""The ingest reader thread: order, errors and early stops."""

import threading

import pyarrow as pa
import pytest

from chroma_frame.interop.sources import read_ahead


def _tables(n, fail_at=None):
    for i in range(n):
        if i == fail_at:
            raise OSError(f"unreadable part {i}")
        yield pa.table({"i": [i]})


def _reader_threads():
    return [t for t in threading.enumerate() if t.name.startswith("chroma-frame-ingest-read")]


def test_tables_come_in_order_and_the_thread_ends():
    assert [t["i"][0].as_py() for t in read_ahead(_tables(50))] == list(range(50))
    assert not _reader_threads()


def test_a_source_error_is_raised_in_the_consumer_after_the_tables_before_it():
    seen = []
    with pytest.raises(OSError, match="unreadable part 3"):
        for t in read_ahead(_tables(10, fail_at=3)):
            seen.append(t["i"][0].as_py())
    assert seen == [0, 1, 2]
    assert not _reader_threads()


def test_a_consumer_that_stops_early_stops_the_reader():
    tables = read_ahead(_tables(1000))
    assert next(tables)["i"][0].as_py() == 0
    tables.close()
    assert not _reader_threads()


def test_an_ingest_that_fails_midway_leaves_no_reader_thread(tmp_path):
    import chroma_frame

    col = chroma_frame.PersistentClient(path=str(tmp_path)).create_collection("col", embedding_function=None)
    embeddings = [[float(i), 1.0] for i in range(200)]
    embeddings[2] = [1.0, 2.0, 3.0]  # the third row has the wrong dimension; 197 rows are still unread
    table = pa.table({"id": [f"r{i}" for i in range(200)], "embedding": embeddings})
    with pytest.raises(Exception) as info:
        col.ingest(table, batch_size=1, progress=False)
    assert info.value.rows_committed == 2
    assert col.count() == 2
    assert not _reader_threads()
