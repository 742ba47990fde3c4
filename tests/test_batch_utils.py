"""chroma_frame.utils.batch_utils.create_batches against chromadb's own, on the same input."""

import numpy as np

import chroma_frame
from chroma_frame.utils.batch_utils import create_batches


class _Small:
    def get_max_batch_size(self) -> int:
        return 3


def test_create_batches_matches_chromadb():
    from chromadb.utils.batch_utils import create_batches as chroma_create_batches

    ids = [f"i{n}" for n in range(7)]
    embeddings = np.arange(14, dtype=np.float32).reshape(7, 2)
    metadatas = [{"n": n} for n in range(7)]
    for args in [(ids, embeddings, metadatas, None), (ids, None, None, [f"d{n}" for n in range(7)]), (ids[:2],)]:
        ours, theirs = create_batches(_Small(), *args), chroma_create_batches(_Small(), *args)
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            for x, y in zip(a, b):
                assert (x is None and y is None) or np.array_equal(np.asarray(x, dtype=object), np.asarray(y, dtype=object))


def test_create_batches_feeds_add(tmp_path):
    client = chroma_frame.PersistentClient(str(tmp_path / "db"))
    col = client.create_collection("batches")
    ids = [f"i{n}" for n in range(10)]
    for batch in create_batches(client, ids, embeddings=[[float(n), 1.0] for n in range(10)]):
        col.add(*batch)
    assert col.count() == 10
