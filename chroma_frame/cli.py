"""``chroma-frame``: run the server, manage databases and collections, move records as Parquet.

Every command is a thin shell over one library call. Exit codes: 0 success, 1 the library or
the file system refused, 2 bad usage, 130 interrupted. ``--json`` prints machine-readable output.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, Optional, Sequence

DEFAULT_PATH = "./chroma"
_PARQUET_META_KEY = b"chroma_frame.collection"
_EXPORT_PAGE = 10_000


class CLIError(Exception):
    """A failure to report in one line, with exit code 1."""


# -- output ------------------------------------------------------------------------------------


def _emit(args: argparse.Namespace, data: Any, text: Optional[str] = None) -> None:
    if args.json:
        print(json.dumps(data, default=str))
    elif text is not None:
        print(text)


def _client(args: argparse.Namespace, database: Optional[str] = None) -> Any:
    import chroma_frame

    return chroma_frame.PersistentClient(args.path, tenant=args.tenant,
                                         database=database or getattr(args, "db", None) or "default_database")


# -- commands ----------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from chroma_frame.server import ServerConfig, serve

    config = ServerConfig.from_env(
        path=args.path, host=args.host, port=args.port, allow_reset=args.allow_reset,
        auth_provider=args.auth_provider, auth_credentials=args.auth_credentials,
        auth_credentials_file=args.auth_credentials_file, token_header=args.auth_token_header,
        max_batch_size=args.max_batch_size, max_body_bytes=args.max_body_bytes, log_level=args.log_level,
        workers=args.workers,
        cors_allow_origins=tuple(args.cors_allow_origins) if args.cors_allow_origins else None,
    )
    if not args.json:
        print(f"chroma-frame serving {config.path} on http://{config.host}:{config.port} "
              f"(auth: {config.auth_provider or 'off'}, reset: {'allowed' if config.allow_reset else 'refused'})",
              file=sys.stderr, flush=True)
    serve(config)
    return 0


def cmd_db_create(args: argparse.Namespace) -> int:
    from chroma_frame import AdminClient, Settings

    AdminClient(Settings(is_persistent=True, persist_directory=args.path)).create_database(args.name, args.tenant)
    _emit(args, {"created": args.name, "tenant": args.tenant}, f"created database {args.name}")
    return 0


def cmd_db_list(args: argparse.Namespace) -> int:
    from chroma_frame import AdminClient, Settings

    dbs = AdminClient(Settings(is_persistent=True, persist_directory=args.path)).list_databases(tenant=args.tenant)
    rows = [{"id": str(d["id"]), "name": d["name"], "tenant": d["tenant"]} for d in dbs]
    _emit(args, rows, "\n".join(r["name"] for r in rows))
    return 0


def cmd_db_delete(args: argparse.Namespace) -> int:
    from chroma_frame import AdminClient, Settings

    AdminClient(Settings(is_persistent=True, persist_directory=args.path)).delete_database(args.name, args.tenant)
    _emit(args, {"deleted": args.name, "tenant": args.tenant}, f"deleted database {args.name}")
    return 0


def cmd_collections_list(args: argparse.Namespace) -> int:
    client = _client(args)
    rows = []
    for collection in client.list_collections():
        rows.append({"id": str(collection.id), "name": collection.name, "count": collection.count(),
                     "metadata": collection.metadata})
    _emit(args, rows, "\n".join(f"{r['name']}\t{r['count']}\t{r['id']}" for r in rows))
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    client = _client(args)
    names = [args.collection] if args.collection else [c.name for c in client.list_collections()]
    for name in names:
        client.get_collection(name, embedding_function=None).compact()
    _emit(args, {"compacted": names}, "\n".join(f"compacted {n}" for n in names))
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from chroma_frame import doctor

    report = doctor.repair(args.path) if args.repair else doctor.check(args.path)
    _emit(args, report.to_json(), report.text())
    return 0 if report.healthy else 1


def cmd_models_download(args: argparse.Namespace) -> int:
    try:
        from chroma_frame.embeddings import model_files
    except ImportError:
        raise CLIError("this build of chroma-frame has no model download (chroma_frame.embeddings.model_files)")
    from pathlib import Path

    try:
        folder = model_files.ensure_model_files(Path(args.dir).expanduser() if args.dir else None,
                                                quiet=args.json)
    except model_files.ModelFilesError as e:
        raise CLIError(str(e)) from None
    _emit(args, {"model": model_files.MODEL_NAME, "dir": str(folder)}, str(folder))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    collection = _client(args).get_collection(args.collection, embedding_function=None)
    count = export_parquet(collection, args.out)
    _emit(args, {"collection": args.collection, "records": count, "file": args.out},
          f"exported {count} records of {args.collection} to {args.out}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    count = import_parquet(_client(args), args.file, args.collection, upsert=args.upsert)
    _emit(args, {"collection": args.collection, "records": count, "file": args.file},
          f"imported {count} records into {args.collection} from {args.file}")
    return 0


# -- Parquet ------------------------------------------------------------------------------------


def _export_schema(collection: Any) -> Any:
    import pyarrow as pa

    model = collection.get_model()
    header = {"name": collection.name, "metadata": collection.metadata,
              "configuration_json": model.get("configuration_json")}
    return pa.schema(
        [("id", pa.string()), ("document", pa.string()), ("uri", pa.string()),
         ("metadata", pa.string()), ("embedding", pa.list_(pa.float32()))],
        metadata={_PARQUET_META_KEY: json.dumps(header, default=str).encode()},
    )


def export_parquet(collection: Any, out: str) -> int:
    """Write every record (id, document, uri, metadata as JSON text, embedding) to ``out``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _export_schema(collection)
    total = 0
    with pq.ParquetWriter(out, schema) as writer:
        while True:
            page = collection.get(limit=_EXPORT_PAGE, offset=total,
                                  include=["documents", "uris", "metadatas", "embeddings"])
            if not page["ids"]:
                break
            emb = np.asarray(page["embeddings"], dtype=np.float32)
            offsets = pa.array(np.arange(len(page["ids"]) + 1, dtype=np.int32) * emb.shape[1])
            embedding = pa.ListArray.from_arrays(offsets, pa.array(emb.reshape(-1), type=pa.float32()))
            writer.write_table(pa.table({
                "id": pa.array(page["ids"], pa.string()),
                "document": pa.array(page["documents"], pa.string()),
                "uri": pa.array(page["uris"], pa.string()),
                "metadata": pa.array([None if m is None else json.dumps(m) for m in page["metadatas"]],
                                     pa.string()),
                "embedding": embedding,
            }, schema=schema))
            total += len(page["ids"])
    return total


def import_parquet(client: Any, path: str, name: Optional[str], *, upsert: bool = False) -> int:
    """Add (or upsert) the records of an exported file; creates the collection if needed."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    header = json.loads((pf.schema_arrow.metadata or {}).get(_PARQUET_META_KEY, b"{}"))
    from chroma_frame.embeddings.binding import DEFAULT
    from chroma_frame.server.service import wire_configuration

    has_embeddings = "embedding" in pf.schema_arrow.names
    collection = client.get_or_create_collection(
        name or header.get("name") or _fail("--collection is required: the file names no collection"),
        metadata=header.get("metadata"), configuration=wire_configuration(header.get("configuration_json")),
        embedding_function=None if has_embeddings else DEFAULT,
    )
    columns = [c for c in ("id", "document", "uri", "metadata", "embedding") if c in pf.schema_arrow.names]
    if "id" not in columns:
        raise CLIError(f"{path} has no 'id' column")
    verb = collection.upsert if upsert else collection.add
    total = 0
    for batch in pf.iter_batches(batch_size=client.get_max_batch_size(), columns=columns):
        data = batch.to_pydict()
        metadatas = data.get("metadata")
        embeddings = None
        if "embedding" in data:
            embeddings = _embedding_matrix(batch.column("embedding"), batch.num_rows)
        verb(ids=data["id"], embeddings=embeddings, documents=data.get("document"), uris=data.get("uri"),
             metadatas=None if metadatas is None else [None if m is None else json.loads(m) for m in metadatas])
        total += batch.num_rows
    return total


def _embedding_matrix(column: Any, rows: int) -> Any:
    import numpy as np

    values = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    if rows and values.size % rows == 0:
        return values.reshape(rows, -1)
    return [None if v is None else np.asarray(v, dtype=np.float32) for v in column.to_pylist()]


def _fail(message: str) -> Any:
    raise CLIError(message)


# -- parser -------------------------------------------------------------------------------------


def _json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")


def _common(p: argparse.ArgumentParser, *, db: bool = False) -> None:
    _json_flag(p)
    p.add_argument("--path", default=DEFAULT_PATH, help="storage root (default: ./chroma)")
    p.add_argument("--tenant", default="default_tenant")
    if db:
        p.add_argument("--db", default="default_database", help="database (default: default_database)")


def build_parser() -> argparse.ArgumentParser:
    from chroma_frame import __version__

    parser = argparse.ArgumentParser(prog="chroma-frame", description="chroma-frame: Chroma's API on Arrow + DuckDB.")
    parser.add_argument("--version", action="version", version=f"chroma-frame {__version__}")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="serve Chroma's HTTP API v2 over a storage root")
    run.add_argument("--path", default=DEFAULT_PATH, help="storage root (default: ./chroma)")
    run.add_argument("--host", default="127.0.0.1", help="bind address (default: 127.0.0.1, loopback only)")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--allow-reset", action="store_true", help="allow POST /api/v2/reset (or ALLOW_RESET=TRUE)")
    run.add_argument("--auth-provider", choices=["token", "basic"], default=None,
                     help="require credentials (or CHROMA_SERVER_AUTHN_PROVIDER)")
    run.add_argument("--auth-credentials", default=None,
                     help="tokens (comma separated) or user:password entries (or CHROMA_SERVER_AUTHN_CREDENTIALS)")
    run.add_argument("--auth-credentials-file", default=None, help="or CHROMA_SERVER_AUTHN_CREDENTIALS_FILE")
    run.add_argument("--auth-token-header", choices=["Authorization", "X-Chroma-Token"], default=None,
                     help="accept the token only in this header (or CHROMA_AUTH_TOKEN_TRANSPORT_HEADER)")
    run.add_argument("--max-batch-size", type=int, default=None, help="lower the records-per-write limit")
    run.add_argument("--max-body-bytes", type=int, default=None, help="request body limit (default 40 MiB)")
    run.add_argument("--workers", type=int, default=None,
                     help="server processes over the same path (default 1; reads scale with cores)")
    run.add_argument("--cors-allow-origins", nargs="*", default=None)
    run.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    _json_flag(run)
    run.set_defaults(func=cmd_run)

    db = sub.add_parser("db", help="databases").add_subparsers(dest="db_command", metavar="ACTION", required=True)
    for action, func, text in (("create", cmd_db_create, "create a database"),
                               ("delete", cmd_db_delete, "delete a database and its collections")):
        p = db.add_parser(action, help=text)
        p.add_argument("name")
        _common(p)
        p.set_defaults(func=func)
    p = db.add_parser("list", help="list databases")
    _common(p)
    p.set_defaults(func=cmd_db_list)

    cols = sub.add_parser("collections", help="collections").add_subparsers(dest="col_command", metavar="ACTION",
                                                                           required=True)
    p = cols.add_parser("list", help="list collections with their record counts")
    _common(p, db=True)
    p.set_defaults(func=cmd_collections_list)

    p = sub.add_parser("export", help="write a collection's records to a Parquet file")
    p.add_argument("collection")
    p.add_argument("--out", required=True, help="Parquet file to write")
    _common(p, db=True)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import", help="add the records of a Parquet file (as written by export)")
    p.add_argument("file")
    p.add_argument("--collection", default=None, help="target collection (default: the exported one's name)")
    p.add_argument("--upsert", action="store_true", help="update records whose ids exist (default: keep them)")
    _common(p, db=True)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("compact", help="fold write logs into Parquet blockfiles now")
    p.add_argument("--collection", default=None, help="only this collection (default: all)")
    _common(p, db=True)
    p.set_defaults(func=cmd_compact)

    p = sub.add_parser("doctor", help="verify every file under a path (exit 1 on errors); --repair fixes what it can",
                       description="Check the catalog and every collection file (manifest, log entries, blockfiles, "
                                   "graphs, postings); with --repair rebuild a lost catalog, drop a damaged end of a "
                                   "log, delete damaged derived files and crash debris. See docs/reliability.md.")
    p.add_argument("--path", default=DEFAULT_PATH, help="storage root (default: ./chroma)")
    p.add_argument("--repair", action="store_true",
                   help="repair what can be repaired (stop other users of the path first)")
    _json_flag(p)
    p.set_defaults(func=cmd_doctor)

    models = sub.add_parser("models", help="embedding models").add_subparsers(dest="models_command",
                                                                              metavar="ACTION", required=True)
    p = models.add_parser("download", help="fetch and verify the default embedding model (all-MiniLM-L6-v2)")
    p.add_argument("--dir", default=None, help="target folder (default: the model cache)")
    _json_flag(p)
    p.set_defaults(func=cmd_models_download)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``chroma-frame`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        return 130
    except CLIError as e:
        return _fail_exit(args, str(e))
    except Exception as e:  # noqa: BLE001 - library refusals become one-line errors
        from chroma_frame.errors import ChromaError

        if isinstance(e, (ChromaError, ValueError, TypeError, OSError)):
            return _fail_exit(args, f"{type(e).__name__}: {e}")
        raise


def _fail_exit(args: argparse.Namespace, message: str) -> int:
    if args.json:
        print(json.dumps({"error": message}))
    print(f"chroma-frame: error: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
