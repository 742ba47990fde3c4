"""Typed filter tables are shared by threads: concurrent filtered reads while writes replace the
log tail (whose typed table is made anew, the old one dropped) answer like a single thread."""

from __future__ import annotations

import threading

import chroma_frame

WHERE = {"$and": [{"n": {"$gte": 10}}, {"kind": "a"}]}


def test_filtered_reads_from_threads_during_writes(tmp_path):
    col = chroma_frame.PersistentClient(path=str(tmp_path)).get_or_create_collection("threads")
    col.add(ids=[f"r{i}" for i in range(200)], embeddings=[[float(i), 1.0] for i in range(200)],
            metadatas=[{"n": i, "kind": "ab"[i % 2]} for i in range(200)])
    col._engine.compact()
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        try:
            while not stop.is_set():
                ids = col.get(where=WHERE)["ids"]
                assert ids[:95] == [f"r{i}" for i in range(10, 200, 2)]  # later writes only append
                assert col.get(where=WHERE, limit=3)["ids"] == ["r10", "r12", "r14"]
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for t in readers:
        t.start()
    for i in range(200, 230):
        col.add(ids=[f"r{i}"], embeddings=[[float(i), 1.0]], metadatas=[{"n": i, "kind": "ab"[i % 2]}])
    stop.set()
    for t in readers:
        t.join()
    assert not errors, errors[0]
    assert col.get(where=WHERE)["ids"] == [f"r{i}" for i in range(10, 230, 2)]
