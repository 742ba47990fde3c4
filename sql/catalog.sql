-- The collections of the current database (refreshed before every client.sql call).
-- __cf_collections is an Arrow table registered by chroma_frame.interop.sql.

CREATE OR REPLACE VIEW chroma_collections AS
    SELECT name, id, metadata, space FROM __cf_collections ORDER BY name;
