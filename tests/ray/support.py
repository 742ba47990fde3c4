"""Collections for the Ray tests: a client on a local folder or on S3, and where workers find it."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tests.conftest import open_backend


def open_collection(kind, request, folder, name="records", configuration=None, **settings):
    """(collection, target keyword arguments: ``path`` and ``settings``)."""
    client = open_backend(kind, request, folder, **settings)
    collection = client.get_or_create_collection(name, configuration=configuration)
    found = client.get_settings()
    return collection, {"path": found.persist_directory, "settings": found}


def rows(dataset) -> pa.Table:
    """Every block of a Ray dataset, as one table."""
    import ray

    tables = ray.get(dataset.to_arrow_refs())
    return pa.concat_tables(tables) if tables else dataset.schema().base_schema.empty_table()  # Ray drops empty blocks


def records(n, dimension, start=0, seed=0):
    """``n`` records with ids ``r<start>...``, clustered vectors, typed and mixed metadata, documents."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(8, dimension)).astype(np.float32)
    vectors = centres[rng.integers(0, 8, n)] + 0.3 * rng.normal(size=(n, dimension)).astype(np.float32)
    ids = [f"r{i}" for i in range(start, start + n)]
    metadatas = [{"shard": i % 7, "tag": f"t{i % 3}", **({"score": i / 10} if i % 2 else {}),
                  **({"labels": ["a", "b"]} if i % 5 == 0 else {})} for i in range(start, start + n)]
    documents = [f"document {i} about {'cats' if i % 4 == 0 else 'dogs'}" for i in range(start, start + n)]
    return {"ids": ids, "embeddings": vectors, "metadatas": metadatas, "documents": documents}
