"""Build a Chroma 1.x directory with chromadb itself (run as a script, in its own process:
``python make_source.py DIR``), so that the test process never holds chromadb's files open while
they are made.

What it holds: two tenants, three databases; collections in the l2, cosine and ip spaces; metadata
of every type (str, int, float, bool and lists of each), documents, uris, records with neither;
deleted, updated and upserted records; a collection of 1,500 records written with a small
``sync_threshold`` so its HNSW segment was persisted and the log purged, changed again afterwards
(those changes live only in the log); a collection with a known embedding function; an empty one.
"""

from __future__ import annotations

import sys

import numpy as np

BIG = 1500


def records(rng: np.random.Generator, n: int, dim: int, prefix: str) -> dict:
    metadatas = []
    for i in range(n):
        kinds = i % 5
        metadata: dict = {"i": i, "f": i / 7, "s": f"s{i}", "b": i % 2 == 0}
        if kinds == 1:
            metadata.update(tags=["red", f"t{i}"], ints=[i, -i, 2**40], floats=[0.5, i / 3], flags=[True, False])
        elif kinds == 2:
            metadata = {"only": "one"}
        metadatas.append(metadata if kinds != 3 else None)
    return {
        "ids": [f"{prefix}{i}" for i in range(n)],
        "embeddings": (rng.standard_normal((n, dim)) * rng.uniform(0.1, 10, (n, 1))).astype(np.float32),
        "metadatas": metadatas,
        "documents": [None if i % 4 == 0 else f"document {prefix} {i} lorem ipsum" for i in range(n)],
        "uris": [f"file:///data/{prefix}{i}.png" if i % 3 == 0 else None for i in range(n)],
    }


def build(path: str) -> None:
    import chromadb
    from chromadb.utils.embedding_functions import DefaultEmbeddingFunction

    rng = np.random.default_rng(16)
    client = chromadb.PersistentClient(path)
    admin = chromadb.AdminClient(chromadb.Settings(is_persistent=True, persist_directory=path))
    admin.create_tenant("acme")
    admin.create_database("research", tenant="acme")
    admin.create_database("empty_db", tenant="acme")

    l2 = client.create_collection("l2-docs", embedding_function=None,
                                  metadata={"owner": "ann", "version": 3, "ratio": 0.25, "public": True})
    l2.add(**records(rng, 60, 16, "l2-"))
    l2.delete(ids=["l2-0", "l2-7"])
    l2.update(ids=["l2-1", "l2-2"], metadatas=[{"i": 1001, "new": "yes"}, {"s": "changed"}],
              documents=["updated one", "updated two"], embeddings=rng.standard_normal((2, 16)).astype(np.float32))
    l2.update(ids=["l2-5"], embeddings=[np.full(16, 0.5, dtype=np.float32)])
    l2.upsert(ids=["l2-3", "l2-new"], embeddings=rng.standard_normal((2, 16)).astype(np.float32),
              metadatas=[{"up": True}, {"up": False}], documents=["upserted", "inserted by upsert"])

    big = client.create_collection(
        "cos-big", embedding_function=None,
        configuration={"hnsw": {"space": "cosine", "sync_threshold": 100, "batch_size": 100, "ef_search": 200}})
    data = records(rng, BIG, 24, "big-")
    for at in range(0, BIG, 250):
        big.add(**{key: value[at:at + 250] for key, value in data.items()})
        if at == 1000:  # persisted with the next batch: deletion marks in the segment files
            big.delete(ids=[f"big-{i}" for i in range(0, 40, 3)])
    big.delete(ids=["big-41", "big-1499"])  # after the last persist: only in the log
    big.update(ids=["big-100", "big-101"], embeddings=rng.standard_normal((2, 24)).astype(np.float32),
               metadatas=[{"edited": 1}, {"edited": 2.5}])

    ip = client.create_collection("ip-vectors", embedding_function=None, configuration={"hnsw": {"space": "ip"}})
    ip.add(ids=[f"ip-{i}" for i in range(40)], embeddings=rng.standard_normal((40, 8)).astype(np.float32))

    acme = chromadb.PersistentClient(path, tenant="acme", database="research")
    known = acme.create_collection("with-function", embedding_function=DefaultEmbeddingFunction(),
                                   metadata={"topic": "papers"})
    known.add(ids=["p1", "p2", "p3"], embeddings=rng.standard_normal((3, 384)).astype(np.float32),
              documents=["alpha", "beta", "gamma"])
    acme.create_collection("nothing-yet", embedding_function=None)
    legacy = acme.create_collection("legacy-metadata", embedding_function=None,
                                    metadata={"hnsw:space": "cosine", "hnsw:construction_ef": 150, "note": "old style"})
    legacy.add(ids=["a", "b"], embeddings=[[1.0, 0.0, 2.0], [0.5, 0.25, -1.0]], documents=["first", "second"])
    same_name = acme.create_collection("l2-docs", embedding_function=None)  # the name again, another database
    same_name.add(ids=["x"], embeddings=[[1.0, 2.0]], metadatas=[{"k": "v"}])


if __name__ == "__main__":
    build(sys.argv[1])
