"""Copy a Chroma 1.x persistent directory into chroma-frame storage (``chroma-frame migrate``).

Chroma's files are read without chromadb: ``chroma.sqlite3`` through the standard library (read-only),
the vectors from the hnswlib segment files and the write log. See docs/migrate.md.
"""

from chroma_frame.migration.run import CollectionCopy, MigrationError, MigrationReport, migrate
from chroma_frame.migration.sqlite_source import SourceError
from chroma_frame.storage.chroma_dir import ChromaDirectoryError, is_chroma_directory

__all__ = ["migrate", "MigrationReport", "CollectionCopy", "MigrationError", "SourceError", "ChromaDirectoryError",
           "is_chroma_directory"]
