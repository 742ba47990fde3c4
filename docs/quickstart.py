import chroma_frame as chromadb

client = chromadb.PersistentClient(path="./chroma")
docs = client.get_or_create_collection("docs", configuration={"hnsw": {"space": "cosine"}})
docs.upsert(ids=["arrow", "duckdb", "polars"],
            documents=["Columnar in-memory data", "An in-process SQL database", "Fast DataFrames in Rust"],
            metadatas=[{"kind": "format"}, {"kind": "engine"}, {"kind": "engine"}])
hits = docs.query(query_texts=["embedded analytical database"], n_results=2, where={"kind": "engine"})
print(hits["ids"][0], hits["distances"][0])
print(docs.get(where_document={"$contains": "SQL"})["documents"])
