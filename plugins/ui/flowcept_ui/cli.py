"""``flowcept ui``: serve the provenance browser (pages and JSON API) until Ctrl+C.

Examples::

    flowcept ui                                   # the settings' store, http://127.0.0.1:5000/
    flowcept ui --store ./flowcept_lmdb --port 8080
    flowcept ui --store mongodb://127.0.0.1:27017/ --db flowcept
    flowcept ui --host 0.0.0.0                    # prints the generated token clients must give
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

__all__ = ["main", "build_parser", "settings_for_store"]

_EPILOG = """examples:
  flowcept ui                                   the settings' store on http://127.0.0.1:5000/
  flowcept ui --store ./flowcept_lmdb --port 8080
  flowcept ui --store mongodb://127.0.0.1:27017/ --db flowcept
  flowcept ui --host 0.0.0.0 --token SECRET     other hosts need the token (generated when not given)
"""


def build_parser() -> argparse.ArgumentParser:
    """The options of ``flowcept ui``."""
    parser = argparse.ArgumentParser(
        prog="flowcept ui",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_EPILOG,
        description="Browse stored provenance in a web browser: workflows, tasks, timelines, telemetry, lineage. "
        "Read-only; every asset is served locally (works offline).",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1); any non-loopback address requires a token",
    )
    parser.add_argument("--port", type=int, default=None, help="port (default web_server.port, else 5000; 0: any)")
    parser.add_argument(
        "--store",
        default=None,
        help="where to read: 'lmdb', 'mongodb', an LMDB directory, or a mongodb:// URI "
        "(default: the store the settings enable)",
    )
    parser.add_argument("--db", default=None, help="MongoDB database name with a mongodb store (databases.mongodb.db)")
    parser.add_argument("--token", default=None, help="token clients must give (Bearer header or ?token=)")
    parser.add_argument("--settings", default=None, help="settings.yaml to use (default: the usual lookup)")
    parser.add_argument(
        "--warm",
        type=int,
        default=3,
        metavar="N",
        help="compute the pages of the N most recent workflows in the background at start (default 3)",
    )
    return parser


def settings_for_store(store: str | None, db: str | None = None, settings_path: str | None = None) -> Any:
    """Settings whose read store is ``store`` (see --store); the usual settings when store is None."""
    from flowcept_core.plugin import load_settings

    overrides: dict[str, Any] = {}
    if store in (None, ""):
        pass
    elif store == "lmdb":
        overrides = {"databases.lmdb.enabled": True, "databases.mongodb.enabled": False}
    elif store == "mongodb":
        overrides = {"databases.mongodb.enabled": True}
    elif store.startswith(("mongodb://", "mongodb+srv://")):
        overrides = {"databases.mongodb.enabled": True, "databases.mongodb.uri": store}
    elif os.path.isdir(store):
        overrides = {"databases.lmdb.enabled": True, "databases.lmdb.path": store, "databases.mongodb.enabled": False}
    else:
        raise ValueError(
            f"--store {store!r}: expected 'lmdb', 'mongodb', a mongodb:// URI or an existing LMDB directory"
        )
    if db:
        overrides["databases.mongodb.db"] = db
    return load_settings(settings_path, overrides=overrides or None)


def main(argv: list[str] | None = None) -> int:
    """Run ``flowcept ui`` with argv (the arguments after ``ui``); returns the exit status."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        settings = settings_for_store(args.store, args.db, args.settings)
    except ValueError as e:
        print(f"flowcept ui: error: {e}", file=sys.stderr)
        return 2
    port = args.port if args.port is not None else int(settings.get("web_server.port") or 5000)
    from flowcept_ui.server import UIServer, is_loopback

    try:
        server = UIServer(settings, host=args.host, port=port, token=args.token, warm=args.warm)
    except OSError as e:
        print(f"flowcept ui: error: cannot listen on {args.host}:{port}: {e.strerror or e}", file=sys.stderr)
        return 2
    try:  # Ctrl+C at any point from here stops the server cleanly
        print(f"flowcept ui: reading the {server.browser.store_name()} store, read-only", flush=True)
        if server.token:
            why = "is not loopback" if not is_loopback(args.host) else "was given a token"
            print(
                f"flowcept ui: {args.host} {why}: every request needs the token (open "
                f"{server.url}?token={server.token} or send 'Authorization: Bearer {server.token}')",
                flush=True,
            )
        print(f"flowcept ui: serving on {server.url} (Ctrl+C stops)", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
