"""client.sql: collections as views, knn(...) inside SQL joined with user tables, register()."""

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from tests.interop.conftest import DIM, CountingEF


@pytest.fixture
def docs(client):
    rng = np.random.default_rng(7)
    n = 400
    col = client.create_collection("docs", embedding_function=None, configuration={"hnsw": {"space": "cosine"}})
    col.add(ids=[f"d{i}" for i in range(n)], embeddings=rng.standard_normal((n, DIM)).astype(np.float32),
            documents=[f"doc {i}" for i in range(n)],
            metadatas=[{"topic": ["cats", "dogs", "fish"][i % 3], "year": 2000 + i % 20} for i in range(n)])
    return col


def test_views_are_collections(client, docs):
    rel = client.sql("SELECT topic, count(*) AS n FROM docs GROUP BY topic ORDER BY topic")
    assert rel.fetchall() == [("cats", 134), ("dogs", 133), ("fish", 133)]
    assert client.sql("SELECT * FROM docs LIMIT 0").columns == ["id", "document", "uri", "topic", "year", "embedding"]
    assert client.sql("SELECT * FROM docs").arrow().read_all().equals(docs.to_arrow())
    assert client.sql("SELECT count(*) FROM docs WHERE year = ?", params=[2003]).fetchone()[0] == 20
    assert client.sql("SELECT name, space FROM chroma_collections").fetchall() == [("docs", "cosine")]


def test_views_follow_writes(client, docs):
    assert client.sql("SELECT count(*) FROM docs").fetchone()[0] == 400
    docs.delete(where={"topic": "fish"})
    assert client.sql("SELECT count(*) FROM docs").fetchone()[0] == 267
    client.create_collection("more-docs", embedding_function=None).add(ids=["x"], embeddings=[[1.0] * DIM])
    assert client.sql('SELECT id FROM "more-docs"').fetchall() == [("x",)]
    client.delete_collection("more-docs")
    with pytest.raises(duckdb.CatalogException):
        client.sql('SELECT id FROM "more-docs"').fetchall()


def test_knn_joined_with_a_user_table_matches_query(client, docs):
    q = np.random.default_rng(1).standard_normal(DIM).astype(np.float32)
    con, _ = client._sql_state()
    labels = pa.table({"doc_id": [f"d{i}" for i in range(0, 400, 2)], "label": [f"L{i}" for i in range(0, 400, 2)]})
    con.register("labels", labels)  # a user table
    rows = client.sql(
        """
        SELECT k.rank, k.id, k.distance, d.topic, l.label
        FROM knn('docs', $q, 10, filter := '{"topic": {"$ne": "fish"}}') AS k
        JOIN docs AS d USING (id)
        LEFT JOIN labels AS l ON l.doc_id = k.id
        ORDER BY k.rank
        """,
        params={"q": q.tolist()},
    ).fetchall()
    expected = docs.query(query_embeddings=[q], n_results=10, where={"topic": {"$ne": "fish"}},
                          include=["distances", "metadatas"])
    assert [r[1] for r in rows] == expected["ids"][0]
    assert [r[0] for r in rows] == list(range(1, 11))
    assert [r[2] for r in rows] == [float(np.float32(d)) for d in expected["distances"][0]]
    assert [r[3] for r in rows] == [m["topic"] for m in expected["metadatas"][0]]
    assert [r[4] for r in rows] == [f"L{r[1][1:]}" if int(r[1][1:]) % 2 == 0 else None for r in rows]


def test_knn_per_row_of_a_query_table(client, docs):
    queries = np.random.default_rng(2).standard_normal((5, DIM)).astype(np.float32)
    con, _ = client._sql_state()
    con.register("queries", pa.table({"qid": list(range(5)),
                                      "vec": pa.FixedSizeListArray.from_arrays(pa.array(queries.reshape(-1)), DIM)}))
    rows = client.sql("""
        SELECT qid, hit.id, hit.rank FROM (SELECT qid, unnest(knn_list('docs', vec, 3)) AS hit FROM queries)
        ORDER BY qid, hit.rank
    """).fetchall()
    expected = docs.query(query_embeddings=queries, n_results=3, include=[])
    assert [r[1] for r in rows] == [i for ids in expected["ids"] for i in ids]
    # an embedding from the view itself as the query
    top = client.sql("SELECT id FROM knn('docs', (SELECT embedding FROM docs WHERE id = 'd17'), 1)").fetchone()
    assert top == ("d17",)


def test_knn_document_filter_and_text(client):
    ef = CountingEF()
    col = client.create_collection("texts", embedding_function=ef)
    col.add(ids=["a", "b", "c"], documents=["apple pie", "banana bread", "apple tart"])
    got = client.sql("""SELECT id FROM knn_text('texts', 'apple pie', 3, document := '{"$contains": "apple"}')
                        ORDER BY rank""").fetchall()
    assert got[0] == ("a",) and {g[0] for g in got} == {"a", "c"}


def test_register_into_own_connection(client, docs):
    con = duckdb.connect()
    client.register(con, "docs", view="my_docs")
    assert con.sql("SELECT count(*) FROM my_docs").fetchone()[0] == 400
    q = docs.get(ids=["d5"], include=["embeddings"])["embeddings"][0].tolist()
    assert con.sql("SELECT id FROM knn('docs', $q, 1)", params={"q": q}).fetchone() == ("d5",)
    client.register(con)  # every collection under its own name
    assert con.sql("SELECT count(*) FROM docs").fetchone()[0] == 400


def test_results_convert_to_polars(client, docs):
    out = client.sql("SELECT topic, avg(year) AS y FROM docs GROUP BY ALL ORDER BY topic").pl()
    assert out.columns == ["topic", "y"] and out.height == 3


def test_errors_name_the_collections_and_the_call_at_fault(client, docs):
    with pytest.raises(duckdb.CatalogException) as unknown:
        client.sql("SELECT * FROM nope")
    assert "Table with name nope does not exist!" in str(unknown.value)
    assert "are: docs" in str(unknown.value) and "pg_" not in str(unknown.value)
    query = [0.0] * (DIM + 1)
    with pytest.raises(duckdb.InvalidInputException) as wrong_dim:
        client.sql("SELECT * FROM knn('docs', $q, 3)", {"q": query}).fetchall()
    message = str(wrong_dim.value)
    assert f"knn('docs', <query>, 3): Collection expecting embedding with dimension of {DIM}, got {DIM + 1}" in message
    assert "validation" not in message and "operations.py" not in message  # no internal frames
    with pytest.raises(duckdb.InvalidInputException, match=r"knn\('gone', <query>, 3\): Collection \[gone\] does not "
                                                              r"exist \(collections here: docs\)"):
        client.sql("SELECT * FROM knn('gone', $q, 3)", {"q": [0.0] * DIM}).fetchall()
    with pytest.raises(duckdb.InvalidInputException, match=r"filter := '\{x' is not JSON"):
        client.sql("SELECT * FROM knn('docs', $q, 3, filter := '{x')", {"q": [0.0] * DIM}).fetchall()
