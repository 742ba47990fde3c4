"""Examples from Chroma's Search API docs (docs/mintlify/cloud/search-api/*.mdx), run as written
(only ``from chromadb import`` becomes ``from chroma_frame import``) on a small product catalogue
with a dense and a BM25 sparse index; their results must make sense."""

from __future__ import annotations

import pytest

import chroma_frame
from chroma_frame import K
from chroma_frame.utils.embedding_functions import ChromaBm25EmbeddingFunction

PRODUCTS = [
    ("Wireless noise cancelling headphones with long battery", "audio", 199.0, True),
    ("Bluetooth wireless earbuds for running", "audio", 89.5, True),
    ("Wired studio headphones for mixing", "audio", 149.0, False),
    ("Wireless gaming headset with microphone", "gaming", 129.0, True),
    ("Mechanical gaming keyboard", "gaming", 99.0, True),
    ("Wireless charging pad for phones", "accessories", 29.0, True),
    ("Portable wireless speaker, waterproof", "audio", 59.0, True),
    ("Machine learning applications in medicine", "books", 45.0, True),
    ("Deep learning for natural language processing", "books", 52.0, True),
    ("A history of the printing press", "books", 18.0, False),
]


@pytest.fixture(scope="module")
def collection():
    schema = chroma_frame.Schema().create_index(
        chroma_frame.SparseVectorIndexConfig(source_key=K.DOCUMENT, embedding_function=ChromaBm25EmbeddingFunction()),
        key="sparse_embedding")
    col = chroma_frame.EphemeralClient().create_collection("products", schema=schema)
    col.add(ids=[f"p{i}" for i in range(len(PRODUCTS))], documents=[p[0] for p in PRODUCTS],
            metadatas=[{"name": p[0].split(",")[0], "category": p[1], "price": p[2], "in_stock": p[3],
                        "title": p[0], "year": 2019 + i % 6, "language": "en" if i % 4 else "de",
                        "status": "published" if i % 3 else "draft"}
                       for i, p in enumerate(PRODUCTS)])
    return col


def run(snippet: str, collection) -> dict:
    namespace = {"collection": collection}
    exec(snippet.replace("from chromadb import", "from chroma_frame import"), namespace)
    return namespace


GROUP_BY_COMPLETE = '''
from chromadb import Search, K, Knn, GroupBy, MinK

# Diversified product search - ensure results from multiple categories
search = (Search()
    .where(K("in_stock") == True)
    .rank(Knn(query="wireless headphones", limit=100))
    .group_by(GroupBy(
        keys=K("category"),
        aggregate=MinK(keys=K.SCORE, k=2)  # Top 2 per category
    ))
    .limit(20)
    .select(K.DOCUMENT, K.SCORE, "name", "category", "price"))

results = collection.search(search)
rows = results.rows()[0]

# Results now include top 2 from each category instead of
# potentially all results from a single dominant category
for row in rows:
    print(f"{row['metadata']['name']}")
    print(f"  Category: {row['metadata']['category']}")
    print(f"  Price: ${row['metadata']['price']:.2f}")
    print(f"  Score: {row['score']:.3f}")
    print()
'''

HYBRID_COMPLETE = '''
from chromadb import Search, K, Knn, Rrf

# Create RRF ranking with text query
hybrid_rank = Rrf(
    ranks=[
        Knn(query="machine learning applications", return_rank=True, limit=300),
        Knn(query="machine learning applications", key="sparse_embedding", return_rank=True, limit=300)
    ],
    weights=[2.0, 1.0],  # Dense 2x more important
    k=60
)

# Build complete search
search = (Search()
    .where(
        (K("language") == "en") &
        (K("year") >= 2020)
    )
    .rank(hybrid_rank)
    .limit(10)
    .select(K.DOCUMENT, K.SCORE, "title", "year")
)

# Execute and process results
results = collection.search(search)
rows = results.rows()[0]  # Get first (and only) search results

for i, row in enumerate(rows, 1):
    print(f"{i}. {row['metadata']['title']} ({row['metadata']['year']})")
    print(f"   RRF Score: {row['score']:.4f}")
    print(f"   Preview: {row['document'][:100]}...")
    print()
'''

BASICS_PATTERNS = '''
from chromadb import Search, K, Knn

# Pattern 1: Baseline - no filter, no rank (natural storage order)
def get_documents():
    return Search().select(K.DOCUMENT, K.METADATA)

# Pattern 2: Filter only - no ranking
def filter_recent_science():
    return (Search()
        .where((K("category") == "science") & (K("year") >= 2023))
        .limit(10)
        .select(K.DOCUMENT, K.METADATA))

# Pattern 3: Rank only - no filtering
def search_similar(query):
    return (Search()
        .rank(Knn(query=query))
        .limit(10)
        .select(K.DOCUMENT, K.SCORE))

# Pattern 4: Both filter and rank
def search_recent_science(query):
    return (Search()
        .where((K("category") == "science") & (K("year") >= 2023))
        .rank(Knn(query=query))
        .limit(10)
        .select(K.DOCUMENT, K.SCORE))

results = collection.search([get_documents(), filter_recent_science(), search_similar("gaming gear"),
                             search_recent_science("gaming gear")])
'''


def test_group_by_complete_example(collection, capsys):
    rows = run(GROUP_BY_COMPLETE, collection)["rows"]
    per_category: dict = {}
    for row in rows:
        per_category.setdefault(row["metadata"]["category"], []).append(row["score"])
    assert set(per_category) == {"audio", "gaming", "accessories", "books"}  # in-stock categories
    assert all(len(scores) <= 2 for scores in per_category.values())
    assert [r["score"] for r in rows] == sorted(r["score"] for r in rows)
    audio = [r["document"] for r in rows if r["metadata"]["category"] == "audio"]
    assert rows[0]["metadata"]["category"] == "audio" and any("headphones" in d for d in audio)
    assert "Score:" in capsys.readouterr().out


def test_hybrid_complete_example(collection):
    rows = run(HYBRID_COMPLETE, collection)["rows"]
    assert rows and all(r["metadata"]["year"] >= 2020 for r in rows)
    assert all(r["score"] < 0 for r in rows)
    # only records both rankings returned are fused (no defaults): the sparse side needs a shared word
    assert all(set(r["document"].lower().split()) & {"machine", "learning", "applications"} for r in rows)
    assert rows[0]["document"].startswith("Machine learning applications")


def test_search_basics_patterns(collection):
    results = run(BASICS_PATTERNS, collection)["results"]
    assert len(results["ids"][0]) == len(PRODUCTS)
    assert results["ids"][1] == [] and results["ids"][3] == []  # no "science" category
    assert len(results["ids"][2]) == 10 and results["documents"][2][0].startswith(("Mechanical gaming", "Wireless gaming"))
