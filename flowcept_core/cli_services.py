"""``flowcept`` subcommands that set up and run things: init-settings, config-profile, check-services,
start-consumer, stream."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import Any

from flowcept_core.cli_common import UsageError

__all__ = ["add_service_parsers", "PROFILES", "COMMANDS"]

# settings profiles (upstream's names): dotted key -> value written into the settings file
PROFILES: dict[str, dict[str, Any]] = {
    "full-online": {
        "project.db_flush_mode": "online",
        "mq.enabled": True,
        "kv_db.enabled": True,
        "databases.mongodb.enabled": True,
        "databases.lmdb.enabled": False,
    },
    "full-telemetry": {
        f"telemetry_capture.{k}": True
        for k in ("cpu", "per_cpu", "process_info", "mem", "disk", "network", "machine_info")
    },
    "mq-only": {
        "project.db_flush_mode": "online",
        "mq.enabled": True,
        "kv_db.enabled": False,
        "databases.mongodb.enabled": False,
        "databases.lmdb.enabled": False,
    },
    "full-offline": {
        "project.db_flush_mode": "offline",
        "project.dump_buffer.enabled": True,
        "mq.enabled": False,
        "kv_db.enabled": False,
        "databases.mongodb.enabled": False,
        "databases.lmdb.enabled": False,
    },
    "mq-only-no-flush": {
        "project.db_flush_mode": "offline",
        "project.dump_buffer.enabled": True,
        "mq.enabled": True,
        "kv_db.enabled": False,
        "databases.mongodb.enabled": False,
        "databases.lmdb.enabled": False,
    },
}
_ADAPTERS = {
    "dask": {"kind": "dask"},
    "mlflow": {"kind": "mlflow", "file_path": "mlflow.db"},
    "tensorboard": {"kind": "tensorboard", "file_path": "tensorboard_events"},
}
_SECTION_NOTES = {
    "project": "how captured messages leave the process: online (MQ) or offline (buffer file only)",
    "log": "log_stream_level / log_file_level: debug, info, warning, error, critical or disable",
    "telemetry_capture": "per-task telemetry; a key left out is off. task_summary adds telemetry_summary per task; "
    "critical_tags: {cpu_percent: 90, memory_growth_mb: 1024, ...} tags tasks above them",
    "mq": "message queue: memory (in-process, default), redis, kafka or rabbitmq (pip install flowcept[<type>])",
    "databases": "stores the persistence service writes to; lmdb needs no server",
    "plugins": "plugins.disabled: names not to load; flowcept plugins lists what is installed",
}


def _settings_path(path: str | None) -> str:
    return (
        path
        or os.environ.get("FLOWCEPT_SETTINGS_PATH")
        or os.path.join(os.path.expanduser("~"), ".flowcept", "settings.yaml")
    )


def _commented_yaml(tree: dict) -> str:
    import yaml

    parts = [
        "# Flowcept settings. Every key is optional: what is left out takes the built-in default.",
        "# Check with: flowcept settings --check",
        "",
    ]
    for section, value in tree.items():
        note = _SECTION_NOTES.get(section)
        if note:
            parts.append(f"# {note}")
        parts.append(yaml.safe_dump({section: value}, sort_keys=False).rstrip())
        parts.append("")
    return "\n".join(parts)


def cmd_init_settings(args: argparse.Namespace) -> int:
    """``flowcept init-settings``: write a commented settings.yaml (defaults, plus adapters asked for)."""
    import yaml

    from flowcept_core.settings_tree import DEFAULTS

    path = _settings_path(args.path)
    adapters = [a for a in _ADAPTERS if getattr(args, a, False)]
    if os.path.exists(path) and not (args.force or adapters):
        raise UsageError(f"{path} already exists; use --force to overwrite it")
    if os.path.exists(path) and adapters:  # adapter flags add their sections to the file that is there
        with open(path, encoding="utf-8") as f:
            tree = yaml.safe_load(f) or {}
    else:
        import copy

        tree = copy.deepcopy(DEFAULTS)
    for name in adapters:
        if not isinstance(tree.get("adapters"), dict):
            tree["adapters"] = {}
        tree["adapters"].setdefault(name, dict(_ADAPTERS[name]))
    _write_private_text(path, _commented_yaml(tree))
    print(f"settings written to {path}" + (f" (adapters: {', '.join(adapters)})" if adapters else ""))
    if args.path and os.path.abspath(path) != os.path.abspath(os.environ.get("FLOWCEPT_SETTINGS_PATH", "")):
        print(f"use it with: export FLOWCEPT_SETTINGS_PATH={os.path.abspath(path)}")
    return 0


def _open_private_text(path: str, mode: str = "ab") -> Any:
    """A text file flowcept writes, 0600 (settings hold credentials, streamed messages captured values)."""
    import io

    from flowcept_core.private_files import open_private

    return io.TextIOWrapper(open_private(path, mode), encoding="utf-8")


def _write_private_text(path: str, text: str) -> None:
    from flowcept_core.private_files import make_private_dirs

    make_private_dirs(os.path.dirname(os.path.abspath(path)))
    with _open_private_text(path, "wb") as f:
        f.write(text)


def apply_profile(name: str, path: str | None = None) -> int:
    """``flowcept --config-profile NAME``: set the profile's keys in the settings file (created if missing)."""
    import yaml

    if name not in PROFILES:
        raise UsageError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    path = _settings_path(path)
    tree: dict = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            tree = yaml.safe_load(f) or {}
    for dotted, value in PROFILES[name].items():
        node = tree
        *parents, leaf = dotted.split(".")
        for p in parents:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        node[leaf] = value
    _write_private_text(path, _commented_yaml(tree))
    print(f"profile {name} applied to {path}: " + ", ".join(f"{k}={v}" for k, v in PROFILES[name].items()))
    return 0


def cmd_check_services(args: argparse.Namespace) -> int:
    """``flowcept check-services``: each service the settings enable, ok or why not; exit 1 if one is down."""
    from flowcept_core.health import services_status
    from flowcept_core.settings import get_settings

    status = services_status(get_settings())
    if not status:
        print("no service to check: offline mode with no store enabled")
        return 0
    for name, (ok, detail) in status.items():
        print(f"{'ok  ' if ok else 'DOWN'}  {name}: {detail}")
    return 0 if all(ok for ok, _ in status.values()) else 1


def _stop_on_signals(stop: threading.Event) -> None:
    import signal

    def handler(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def cmd_start_consumer(args: argparse.Namespace) -> int:
    """``flowcept start-consumer``: run the persistence service until SIGINT/SIGTERM, then flush and stop."""
    from flowcept_core.settings import get_settings

    settings = get_settings()
    if settings.get("mq.type", "memory") == "memory":
        raise UsageError(
            "mq.type is memory (in-process): another process cannot reach it; set mq.type to redis, "
            "kafka or rabbitmq to run the persistence service on its own"
        )
    if args.consumer:
        import importlib

        module, _, name = args.consumer.partition(":")
        try:
            consumer = getattr(importlib.import_module(module), name)()
        except (ImportError, AttributeError, ValueError) as e:
            raise UsageError(f"--consumer {args.consumer!r} cannot be loaded ({e}); give module:ClassName") from None
    else:
        from flowcept_core.consumers.document_inserter import DocumentInserter

        consumer = DocumentInserter(settings)
    stop = threading.Event()
    _stop_on_signals(stop)
    consumer.start(threaded=True, daemon=True)
    print(f"{type(consumer).__name__} consuming from {settings.get('mq.type')}; Ctrl+C or SIGTERM stops it", flush=True)
    while not stop.wait(0.5):
        if not consumer.is_running:
            print("the consumer stopped on its own", file=sys.stderr)
            return 1
    flush = getattr(consumer, "flush", None)
    consumer.stop()
    if callable(flush):
        flush()
    print(f"stopped; {getattr(consumer, 'stored', 0)} documents stored", flush=True)
    return 0


def cmd_stream(args: argparse.Namespace) -> int:
    """``flowcept stream``: print live messages from the MQ (filtered), until Ctrl+C or --count."""
    from flowcept_core.cli_common import json_arg
    from flowcept_core.consumers.base import BaseConsumer
    from flowcept_core.filters import compile_filter
    from flowcept_core.settings import get_settings

    settings = get_settings()
    if settings.get("mq.type", "memory") == "memory":
        raise UsageError(
            "mq.type is memory (in-process): no other process can listen to it; set mq.type to redis, kafka or rabbitmq"
        )
    filt = json_arg(args.filter, "--filter") or {}
    if args.type:
        filt["type"] = args.type
    if args.activity:
        filt["activity_id"] = args.activity
    if args.workflow_id:
        filt["workflow_id"] = args.workflow_id
    match = compile_filter(filt) if filt else None
    keys = [k.strip() for k in args.keys.split(",")] if args.keys else None
    out = _open_private_text(args.output) if args.output else None
    import orjson

    class Printer(BaseConsumer):
        seen = 0

        def message_handler(self, msg_obj: dict) -> bool:
            if match is not None and not match(msg_obj):
                return True
            shown = {k: msg_obj[k] for k in keys if k in msg_obj} if keys else msg_obj
            line = orjson.dumps(shown, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
            print(line, flush=True)
            if out is not None:
                out.write(line + "\n")
            Printer.seen += 1
            return not (args.count and Printer.seen >= args.count)

    stop = threading.Event()
    _stop_on_signals(stop)
    consumer = Printer(settings).start(threaded=True, daemon=True)
    print(
        f"listening on {settings.get('mq.type')} channel {settings.get('mq.channel')}; Ctrl+C stops",
        file=sys.stderr,
        flush=True,
    )
    while not stop.wait(0.2) and consumer.is_running:
        pass
    consumer.stop()
    if out is not None:
        out.close()
    return 0


def add_service_parsers(sub: Any, formatter: Any) -> None:
    """Called by the ``flowcept`` command while it builds its parser; adds this module's subcommands."""

    def add(name: str, fn: Any, help_text: str, examples: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name, help=help_text, description=help_text, epilog="examples:\n" + examples, formatter_class=formatter
        )
        p.set_defaults(func=fn)
        return p

    p = add(
        "init-settings",
        cmd_init_settings,
        "write a commented settings.yaml",
        "  flowcept init-settings                    # ~/.flowcept/settings.yaml (or FLOWCEPT_SETTINGS_PATH)\n"
        "  flowcept init-settings ./settings.yaml --force\n  flowcept init-settings --dask --mlflow",
    )
    p.add_argument(
        "path", nargs="?", help="where to write (default: FLOWCEPT_SETTINGS_PATH or ~/.flowcept/settings.yaml)"
    )
    p.add_argument(
        "--force",
        "-y",
        "--yes",
        dest="force",
        action="store_true",
        help="overwrite an existing file with the full defaults (adapter flags add to the existing file)",
    )
    p.add_argument(
        "--full",
        action="store_true",
        help="accepted for upstream's --init-settings --full: the file written always holds every section, commented",
    )
    for name in _ADAPTERS:
        p.add_argument(f"--{name}", action="store_true", help=f"add an adapters.{name} section")
    p = add(
        "check-services",
        cmd_check_services,
        "check each service the settings enable",
        "  flowcept check-services\n  MQ_TYPE=redis flowcept check-services",
    )
    p = add(
        "start-consumer",
        cmd_start_consumer,
        "run the persistence service (blocks; SIGINT/SIGTERM stop it)",
        "  flowcept start-consumer\n  flowcept start-consumer --consumer mypkg.consumers:Printer",
    )
    p.add_argument("--consumer", help="module:ClassName of a BaseConsumer subclass to run instead")
    p.add_argument("--bundle-exec-id", help="accepted for compatibility; not needed")
    p.add_argument("--check-safe-stops", action="store_true", help="accepted for compatibility; not needed")
    p = add(
        "stream",
        cmd_stream,
        "print live messages from the MQ",
        "  flowcept stream --type task --activity train\n"
        "  flowcept stream --keys task_id,status,ended_at --output seen.jsonl --count 100",
    )
    p.add_argument("--type", help="only this message type (task, workflow)")
    p.add_argument("--activity", help="only tasks of this activity_id")
    p.add_argument("--workflow-id")
    p.add_argument("--filter", help="MongoDB-style JSON filter")
    p.add_argument("--keys", help="comma-separated keys to print")
    p.add_argument("--output", help="also append each printed message to this file")
    p.add_argument("--count", type=int, default=0, help="stop after this many messages")


COMMANDS = ("init-settings", "check-services", "start-consumer", "stream")
