import numpy as np
import pytest

DIM = 8


def make_records(n: int, seed: int = 0):
    """Records with every metadata shape: str (unicode), int, float, bool, lists, nulls."""
    rng = np.random.default_rng(seed)
    ids = [f"id-{i:05d}" for i in range(n)]
    docs = [None if i % 7 == 3 else f"document {i} — ünïcödé ✓ 文字" for i in range(n)]
    metas = []
    for i in range(n):
        if i % 5 == 4:
            metas.append(None)
            continue
        m = {"group": f"g{i % 3}", "n": i, "score": float(i) / 3, "flag": i % 2 == 0}
        if i % 3 == 0:
            m["tags"] = ["a", f"t{i % 4}"]
        if i % 4 == 1:
            m["nums"] = [i, i + 1, -i]
        metas.append(m)
    uris = [f"s3://bucket/{i}" if i % 2 else None for i in range(n)]
    return ids, rng.standard_normal((n, DIM)).astype(np.float32), docs, metas, uris


@pytest.fixture
def filled(client):
    """A collection holding make_records(60) (no embedding function)."""
    ids, emb, docs, metas, uris = make_records(60)
    col = client.create_collection("filled", embedding_function=None)
    col.add(ids=ids, embeddings=emb, documents=docs, metadatas=metas, uris=uris)
    return col


class CountingEF:
    """A deterministic embedding function that records the sizes of its calls."""

    def __init__(self, dim: int = DIM) -> None:
        self.dim = dim
        self.calls: list[int] = []

    def __call__(self, input):
        self.calls.append(len(input))
        out = []
        for text in input:
            rng = np.random.default_rng(abs(hash(text)) % (2**32))
            out.append(rng.standard_normal(self.dim).astype(np.float32))
        return out

    @staticmethod
    def name() -> str:
        return "interop-test-counting"

    def is_legacy(self) -> bool:
        return False

    def get_config(self) -> dict:
        return {"dim": self.dim}

    @staticmethod
    def build_from_config(config: dict) -> "CountingEF":
        return CountingEF(config["dim"])

    def default_space(self) -> str:
        return "l2"

    def supported_spaces(self) -> list:
        return ["l2", "cosine", "ip"]
