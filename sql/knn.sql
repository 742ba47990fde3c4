-- Vector search inside SQL. Loaded at connect by chroma_frame.interop.sql.
--
--   knn(collection, query, k [, filter := '<where JSON>'] [, document := '<where_document JSON>'])
--     -> TABLE (id VARCHAR, distance FLOAT, rank INTEGER), closest first, rank from 1.
--   knn_text(collection, text, k [, filter] [, document]): the same for a text embedded by the
--     collection's embedding function.
--   knn_list(collection, query, k [, filter] [, document]) -> STRUCT(id, distance, rank)[]: a scalar, for
--     one search per row of a table of queries (unnest it).
--
-- cf_knn / cf_knn_text are Python functions (one collection.query call per chunk of queries).

CREATE OR REPLACE MACRO knn_list(collection, query, k, filter := NULL, document := NULL) AS
    cf_knn(collection, CAST(query AS FLOAT[]), CAST(k AS BIGINT), CAST(filter AS VARCHAR), CAST(document AS VARCHAR));

CREATE OR REPLACE MACRO knn(collection, query, k, filter := NULL, document := NULL) AS TABLE
    SELECT unnest(hit, recursive := true)
    FROM (SELECT unnest(cf_knn(collection, CAST(query AS FLOAT[]), CAST(k AS BIGINT),
                               CAST(filter AS VARCHAR), CAST(document AS VARCHAR))) AS hit);

CREATE OR REPLACE MACRO knn_text(collection, text, k, filter := NULL, document := NULL) AS TABLE
    SELECT unnest(hit, recursive := true)
    FROM (SELECT unnest(cf_knn_text(collection, CAST(text AS VARCHAR), CAST(k AS BIGINT),
                                    CAST(filter AS VARCHAR), CAST(document AS VARCHAR))) AS hit);
