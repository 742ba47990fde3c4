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


class CLIError(Exception):
    """A failure to report in one line, with exit code 1."""


# -- output ------------------------------------------------------------------------------------


def _emit(args: argparse.Namespace, data: Any, text: Optional[str] = None) -> None:
    if args.json:
        print(json.dumps(data, default=str))
    elif text is not None:
        print(text)


def _client(args: argparse.Namespace, *, create: bool = False) -> Any:
    import chroma_frame

    if not create:
        _existing_root(args.path)
    # a command's own work only: no background index builds (`chroma-frame index` builds them)
    return chroma_frame.PersistentClient(args.path, settings=chroma_frame.Settings(index_build_policy="manual"),
                                         tenant=args.tenant, database=getattr(args, "db", None) or "default_database")


def _admin(args: argparse.Namespace, *, create: bool = False) -> Any:
    from chroma_frame import AdminClient, Settings

    if not create:
        _existing_root(args.path)
    return AdminClient(Settings(is_persistent=True, persist_directory=args.path))


def _existing_root(path: str) -> None:
    """Commands that only read (or change what exists) never create a storage root."""
    import os

    from chroma_frame.storage.catalog import CATALOG, CATALOG_DIR

    if "://" in path:  # object storage: the storage layer says whether anything is there
        from chroma_frame.storage.fs import Storage

        storage = Storage.for_path(path, cache_dir=False)
        if not (storage.list_names(CATALOG_DIR) or storage.has_file(CATALOG)):
            raise CLIError(f"{path} holds no chroma-frame storage (no {CATALOG_DIR}/ nor {CATALOG}; "
                           "nothing was created)")
        return
    if not os.path.isdir(path):
        raise CLIError(f"{path} does not exist: no chroma-frame storage there (nothing was created)")
    if not (os.path.isdir(os.path.join(path, CATALOG_DIR)) or os.path.exists(os.path.join(path, CATALOG))):
        raise CLIError(f"{path} is not a chroma-frame storage root: it has no {CATALOG_DIR}/ nor {CATALOG} "
                       "(nothing was created; "
                       "if the catalog was lost, `chroma-frame doctor --repair` rebuilds it)")


# -- commands ----------------------------------------------------------------------------------


def run_config(args: argparse.Namespace) -> tuple[Any, list[str]]:
    """The ServerConfig ``run`` serves (flags > config file > environment > defaults), and the
    config file's warnings (Chroma keys that mean nothing here)."""
    from chroma_frame.server import ServerConfig
    from chroma_frame.server.config_file import ConfigFileError, load_config_file

    if args.config and args.config_path and args.config != args.config_path:
        raise CLIError(f"two config files given: {args.config} and --config-path {args.config_path}")
    file_values: dict[str, Any] = {}
    warnings: list[str] = []
    if args.config or args.config_path:
        try:
            loaded = load_config_file(args.config or args.config_path)
        except ConfigFileError as e:
            raise CLIError(str(e)) from None
        file_values, warnings = loaded.values, loaded.warnings
    config = ServerConfig.from_env(
        file_values=file_values,
        path=args.path, host=args.host, port=args.port, allow_reset=args.allow_reset,
        auth_provider=args.auth_provider, auth_credentials=args.auth_credentials,
        auth_credentials_file=args.auth_credentials_file, token_header=args.auth_token_header,
        max_batch_size=args.max_batch_size, max_body_bytes=args.max_body_bytes, log_level=args.log_level,
        workers=args.workers, request_timeout=args.request_timeout,
        cors_allow_origins=tuple(args.cors_allow_origins) if args.cors_allow_origins else None,
    )
    return config, warnings


def cmd_run(args: argparse.Namespace) -> int:
    import os

    from chroma_frame.server import serve
    from chroma_frame.server.telemetry import TelemetryUnavailable, options_of, require

    config, warnings = run_config(args)
    for warning in warnings:
        print(f"chroma-frame: warning: {warning}", file=sys.stderr, flush=True)
    if args.refresh_interval is not None:  # read by the server's Settings, in every worker process
        os.environ["REFRESH_INTERVAL"] = str(args.refresh_interval)
    try:
        require(options_of(config))  # before any worker starts
        if not args.json:
            print(f"chroma-frame serving {config.path} on http://{config.host}:{config.port} "
                  f"(auth: {config.auth_provider or 'off'}, reset: {'allowed' if config.allow_reset else 'refused'}"
                  f", telemetry: {config.chroma_otel_collection_endpoint or 'off'})", file=sys.stderr, flush=True)
        serve(config)
    except TelemetryUnavailable as e:
        raise CLIError(str(e)) from None
    return 0


def cmd_db_create(args: argparse.Namespace) -> int:
    _admin(args, create=True).create_database(args.name, args.tenant)
    _emit(args, {"created": args.name, "tenant": args.tenant}, f"created database {args.name}")
    return 0


def cmd_db_list(args: argparse.Namespace) -> int:
    dbs = _admin(args).list_databases(tenant=args.tenant)
    rows = [{"id": str(d["id"]), "name": d["name"], "tenant": d["tenant"]} for d in dbs]
    _emit(args, rows, "\n".join(r["name"] for r in rows) or f"no databases in tenant {args.tenant}")
    return 0


def cmd_db_delete(args: argparse.Namespace) -> int:
    _admin(args).delete_database(args.name, args.tenant)
    _emit(args, {"deleted": args.name, "tenant": args.tenant}, f"deleted database {args.name}")
    return 0


def cmd_collections_list(args: argparse.Namespace) -> int:
    client = _client(args)
    rows = []
    for collection in client.list_collections():
        rows.append({"id": str(collection.id), "name": collection.name, "count": collection.count(),
                     "metadata": collection.metadata})
    _emit(args, rows, "\n".join(f"{r['name']}\t{r['count']}\t{r['id']}" for r in rows)
          or f"no collections in database {client.database} of tenant {client.tenant}")
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    client = _client(args)
    names = [args.collection] if args.collection else [c.name for c in client.list_collections()]
    for name in names:
        client.get_collection(name, embedding_function=None).compact()
    _emit(args, {"compacted": names}, "\n".join(f"compacted {n}" for n in names))
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    client = _client(args)
    names = args.collection or [c.name for c in client.list_collections()]
    built = {}
    for name in names:
        collection = client.get_collection(name, embedding_function=None)
        built[name] = collection.build_index(progress=False if args.json else None)
    _emit(args, {"built": built}, "\n".join(f"{n}: built {b} graph(s)" for n, b in built.items()))
    return 0


def cmd_vacuum(args: argparse.Namespace) -> int:
    client = _client(args)
    freed = client.vacuum(older_than=args.older_than)
    _emit(args, freed, f"deleted {freed['versions']} version(s) and {freed['files']} file(s): "
                       f"{freed['bytes'] / 2**20:.1f} MB freed")
    return 0


def duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``30m``, ``12h`` or ``7d`` (argparse type)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
    value, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        seconds = float(value) * units[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90s, 30m, 12h, 7d)") from None
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"a duration cannot be negative: {text!r}")
    return seconds


def cmd_doctor(args: argparse.Namespace) -> int:
    from chroma_frame import doctor

    report = doctor.repair(args.path) if args.repair else doctor.check(args.path)
    _emit(args, report.to_json(), report.text())
    return 0 if report.healthy else 1


def cmd_models_download(args: argparse.Namespace) -> int:
    try:
        from chroma_frame.embeddings import model_files
    except ImportError as e:
        raise CLIError("this build of chroma-frame has no model download (chroma_frame.embeddings.model_files)") from e
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
    count = collection.export_parquet(args.out)
    _emit(args, {"collection": args.collection, "records": count, "file": args.out},
          f"exported {count} records of {args.collection} to {args.out}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    import os

    from chroma_frame.interop.ingest import IngestError
    from chroma_frame.interop.parquet import import_file, read_header

    if not os.path.isfile(args.file):  # checked before a storage root is created
        raise CLIError(f"{args.file} does not exist or is not a file")
    name = args.collection or read_header(args.file).get("name")
    if not name:
        raise CLIError("--collection is required: the file names no collection")
    client = _client(args, create=True)
    before = _count(client, name)
    try:
        collection, done = import_file(client, args.file, name, existing_ok=True,
                                       mode="upsert" if args.upsert else "add", progress=False)
    except IngestError as e:
        raise CLIError(str(e)) from None
    new = collection.count() - before  # add writes only new ids; upsert also rewrites existing ones
    _emit(args, {"collection": name, "file": args.file, "mode": done.mode, "read": done.rows_read,
                 "records": done.rows_written, "new": new, "updated": done.rows_written - new,
                 "already_present": done.rows_skipped},
          f"imported {new:,} new records into {name} from {args.file} ({done.rows_read:,} read; "
          + (f"{done.rows_skipped:,} already present, left as they are)" if done.mode == "add"
             else f"{done.rows_written - new:,} existing records updated)"))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from chroma_frame.migration import migrate

    report = migrate(args.source, args.target, progress=not args.json, batch_size=args.batch_size)
    _emit(args, report.to_json(),
          f"copied {report.copied:,} records ({report.records:,} in all) of {len(report.collections)} collection(s) "
          f"from {args.source} to {args.target}")
    return 0


def _count(client: Any, name: str) -> int:
    from chroma_frame.errors import NotFoundError

    try:
        return client.get_collection(name, embedding_function=None).count()
    except NotFoundError:
        return 0


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
    from chroma_frame.version import __version__

    parser = argparse.ArgumentParser(prog="chroma-frame", description="chroma-frame: Chroma's API on Arrow + DuckDB.")
    parser.add_argument("--version", action="version", version=f"chroma-frame {__version__}")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="serve Chroma's HTTP API v2 over a storage root",
                         description="Serve Chroma's HTTP API v2 over a storage root. Settings come from the "
                                     "flags, then the config file (Chroma's server YAML), then environment "
                                     "variables, then the defaults (docs/deploy.md).")
    run.add_argument("config", nargs="?", default=None, metavar="CONFIG.yaml",
                     help="Chroma's server config file (persist_path, listen_address, port, ...)")
    run.add_argument("--config-path", "--config_path", dest="config_path", default=None, metavar="CONFIG.yaml",
                     help="the same, as an option")
    run.add_argument("--path", default=None, help="storage root (default: ./chroma)")
    run.add_argument("--host", default=None, help="bind address (default: 127.0.0.1, loopback only)")
    run.add_argument("--port", type=int, default=None, help="(default: 8000)")
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
    run.add_argument("--request-timeout", type=float, default=None, metavar="SECONDS",
                     help="deadline of a read request (get/query/search/count), its filter included; "
                          "0: none (default 60, or CHROMA_FRAME_REQUEST_TIMEOUT)")
    run.add_argument("--workers", type=int, default=None,
                     help="server processes over the same path (default 1; reads scale with cores)")
    run.add_argument("--refresh-interval", type=float, default=None, metavar="SECONDS",
                     help="seconds a read may reuse its last check for other processes' commits "
                          "(default 0: every read checks; or REFRESH_INTERVAL); this server's own writes "
                          "are always read")
    run.add_argument("--cors-allow-origins", nargs="*", default=None)
    run.add_argument("--log-level", default=None, choices=["critical", "error", "warning", "info", "debug"],
                     help="(default: warning)")
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

    p = sub.add_parser("compact", help="fold write logs into Arrow IPC blockfiles now",
                       description="Fold write logs into Arrow IPC blockfiles now (it also happens by itself).")
    p.add_argument("--collection", default=None, help="only this collection (default: all)")
    _common(p, db=True)
    p.set_defaults(func=cmd_compact)

    p = sub.add_parser("index", help="build the missing search graphs of collections now, using every core")
    p.add_argument("--collection", action="append", default=None,
                   help="only this collection (repeatable; default: all)")
    _common(p, db=True)
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("vacuum", help="delete old versions of every collection and the files nothing needs",
                       description="Delete the versions superseded more than --older-than ago (never a "
                                   "current one) and every file no kept version lists; safe while others read "
                                   "and write. See docs/storage.md, \"Vacuum\".")
    p.add_argument("--path", default=DEFAULT_PATH,
                   help="storage root: a folder or s3://bucket/prefix (default: ./chroma)")
    p.add_argument("--older-than", type=duration, default=7 * 86400.0, metavar="AGE",
                   help="keep versions superseded less than AGE ago: 90s, 30m, 12h, 7d (default: 7d; 0: only current)")
    p.add_argument("--tenant", default="default_tenant", help=argparse.SUPPRESS)
    _json_flag(p)
    p.set_defaults(func=cmd_vacuum)

    p = sub.add_parser("doctor", help="verify every file under a path (exit 1 on errors); --repair fixes what it can",
                       description="Check the catalog and every collection file (manifest, log entries, blockfiles, "
                                   "graphs, postings); with --repair rebuild a lost catalog, drop a damaged end of a "
                                   "log, delete damaged derived files and crash debris. See docs/reliability.md.")
    p.add_argument("--path", default=DEFAULT_PATH, help="storage root (default: ./chroma)")
    p.add_argument("--repair", action="store_true",
                   help="repair what can be repaired (stop other users of the path first)")
    _json_flag(p)
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("migrate", help="copy a Chroma 1.x directory (chroma.sqlite3) into chroma-frame storage",
                       description="Copy every tenant, database, collection and record of a Chroma 1.x persistent "
                                   "directory into chroma-frame storage at --to. The Chroma directory is only read "
                                   "(chromadb is not needed). Run it again after an interruption: it goes on "
                                   "where it stopped. See docs/migrate.md.")
    p.add_argument("--from", dest="source", required=True, metavar="CHROMA_DIR", help="Chroma's persist directory")
    p.add_argument("--to", dest="target", required=True, metavar="PATH", help="chroma-frame storage root to fill")
    p.add_argument("--batch-size", type=int, default=2000, help="records per write (default 2000)")
    _json_flag(p)
    p.set_defaults(func=cmd_migrate)

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
        _refuse_chroma_path(args)
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


def _refuse_chroma_path(args: argparse.Namespace) -> None:
    """A command given a Chroma directory as --path stops before it opens (or writes) anything."""
    from chroma_frame.storage.chroma_dir import refuse_chroma_directory

    path = getattr(args, "path", None)
    if path and "://" not in path:
        refuse_chroma_directory(path)


def _fail_exit(args: argparse.Namespace, message: str) -> int:
    if args.json:
        print(json.dumps({"error": message}))
    print(f"chroma-frame: error: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
