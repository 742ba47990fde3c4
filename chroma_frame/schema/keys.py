"""The reserved keys of a schema: the document and the dense embedding."""

DOCUMENT_KEY = "#document"
EMBEDDING_KEY = "#embedding"
