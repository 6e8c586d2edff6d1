"""Upstream Flowcept 1.0.3's command-line flags (``flowcept --query --filter ...``), run through the subcommands.

:func:`translate` is called by ``flowcept`` when the first argument is one of those flags; it returns the subcommand
argv, or runs the flag itself when it has no subcommand (``--workflow-count``, ``--get-task``, ``--config-profile``),
or says what to run instead for flags that started or stopped external services.
"""

from __future__ import annotations

import json
from typing import Any

from flowcept_core.cli_common import UsageError

__all__ = ["LEGACY_FLAGS", "HELP_FOR", "translate"]

_INSTEAD = {
    "--start-services": "start the servers your settings name yourself (e.g. redis-server, mongod), or keep the "
    "defaults: the in-process MQ and LMDB need no server",
    "--stop-services": "stop the servers you started (e.g. redis-cli shutdown)",
    "--start-mongo": "run mongod yourself (or keep LMDB, the default store, which needs no server)",
    "--start-redis": "run redis-server yourself (or keep the in-process MQ, the default)",
    "--stop-redis": "run: redis-cli shutdown",
    "--stop-consumption-services": "stop `flowcept start-consumer` with Ctrl+C or SIGTERM (it flushes first)",
    "--start": "the agent is not part of this distribution; the web service and UI are: flowcept ui "
    '(pip install "flowcept[ui]")',
    "--agent-client": "the agent is not part of this distribution",
}
# upstream flag -> the subcommand whose --help answers ``flowcept --help <flag>``
HELP_FOR = {
    "--version": "version",
    "--show-settings": "settings",
    "--init-settings": "init-settings",
    "--check-services": "check-services",
    "--start-consumption-services": "start-consumer",
    "--stream-messages": "stream",
    "--workflow-count": "workflows",
    "--query": "query",
    "--get-task": "query",
    "--generate-report": "report",
}
LEGACY_FLAGS = (
    "--version",
    "--show-settings",
    "--init-settings",
    "--config-profile",
    "--check-services",
    "--start-consumption-services",
    "--stream-messages",
    "--workflow-count",
    "--query",
    "--get-task",
    "--generate-report",
    *_INSTEAD,
)


def _options(argv: list[str]) -> dict[str, Any]:
    """Parse ``--name value`` / ``--name=value`` / ``--flag`` pairs into {name: value or True}."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-y",):
            out["yes"] = True
        elif arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if not eq:
                if i + 1 < len(argv) and not argv[i + 1].startswith("--") and argv[i + 1] != "-y":
                    value = argv[i + 1]
                    i += 1
                else:
                    value = True
            out[name.replace("-", "_")] = value
        else:
            raise UsageError(f"unexpected argument {arg!r}")
        i += 1
    return out


def _need(opts: dict, name: str, flag: str) -> str:
    value = opts.get(name)
    if not isinstance(value, str) or not value:
        raise UsageError(f"{flag} needs --{name.replace('_', '-')} VALUE")
    return value


def translate(argv: list[str]) -> list[str] | int:
    """Called with the full argv when argv[0] is a legacy flag; returns subcommand argv or an exit status."""
    flag = argv[0].partition("=")[0]
    if flag == "--start" and ({"--ui", "--webservice"} & set(argv[1:])):
        return _start_ui(argv[1:])
    if flag in _INSTEAD:
        import sys

        print(f"flowcept {flag} is not available here: {_INSTEAD[flag]}", file=sys.stderr)
        return 2
    opts = _options(argv)
    opts.pop(flag[2:].replace("-", "_"), None)
    if flag == "--version":
        return ["version"]
    if flag == "--show-settings":
        return ["settings"]
    if flag == "--init-settings":
        return [
            "init-settings",
            *(["--force"] if opts.get("yes") else []),
            *(["--full"] if opts.get("full") else []),
            *[f"--{a}" for a in ("dask", "mlflow", "tensorboard") if opts.get(a)],
        ]
    if flag == "--config-profile":
        from flowcept_core.cli_services import apply_profile

        value = argv[0].partition("=")[2] or (argv[1] if len(argv) > 1 and not argv[1].startswith("-") else "")
        if not value:
            raise UsageError("--config-profile needs a profile name")
        return apply_profile(value)
    if flag == "--check-services":
        return ["check-services"]
    if flag == "--start-consumption-services":
        if opts.get("consumers") not in (None, True, ""):
            raise UsageError(
                "--consumers: the persistence service runs the DocumentInserter; for a consumer of your "
                "own run: flowcept start-consumer --consumer module:ClassName"
            )
        return [
            "start-consumer",
            *(["--bundle-exec-id", opts["bundle_exec_id"]] if isinstance(opts.get("bundle_exec_id"), str) else []),
            *(["--check-safe-stops"] if opts.get("check_safe_stops") else []),
        ]
    if flag == "--stream-messages":
        out = ["stream"]
        if isinstance(opts.get("keys_to_show"), str):
            out += ["--keys", opts["keys_to_show"].replace("'", "").replace('"', "")]
        if isinstance(opts.get("messages_file_path"), str):
            out += ["--output", opts["messages_file_path"]]
        return out
    if flag == "--query":
        out = ["query", "--filter", _need(opts, "filter", flag), "--format", "jsonl"]
        for name, option in (("project", "--projection"), ("sort", "--sort"), ("limit", "--limit")):
            if isinstance(opts.get(name), str):
                out += [option, opts[name]]
        return out
    if flag == "--generate-report":
        out = ["report", "--format", str(opts.get("format", "markdown")).lower()]
        for name, option in (("input_path", "--input"), ("output_path", "--output"), ("workflow_id", "--workflow-id")):
            if isinstance(opts.get(name), str):
                out += [option, opts[name]]
        return out
    if flag == "--workflow-count":
        return _workflow_count(_need(opts, "workflow_id", flag))
    if flag == "--get-task":
        return _get_task(_need(opts, "task_id", flag))
    raise UsageError(f"unknown option {flag!r}")


def _workflow_count(workflow_id: str) -> int:
    from flowcept_core.query import DBAPI

    db = DBAPI()
    counts = {
        c: len(db.query({"workflow_id": workflow_id}, ["workflow_id"], collection=c) or [])
        for c in ("tasks", "workflows", "objects")
    }
    if not any(counts.values()):
        raise UsageError(f"unknown workflow id {workflow_id!r}: nothing stored with it")
    print(json.dumps({"workflow_id": workflow_id, **counts}, indent=2))
    return 0


def _get_task(task_id: str) -> int:
    from flowcept_core.query import DBAPI

    docs = DBAPI().query({"task_id": task_id}) or []
    if not docs:
        raise UsageError(f"unknown task id {task_id!r}")
    print(json.dumps(docs[0], indent=2, default=str))
    return 0


def _start_ui(rest: list[str]) -> list[str]:
    """``flowcept --start --webservice --ui [--host H] [--port P]``: the provenance browser (``flowcept ui``)."""
    out = ["ui"]
    i = 0
    while i < len(rest):
        arg = rest[i]
        name, eq, value = arg.partition("=")
        if name in ("--host", "--port", "--token", "--store"):
            if not eq:
                if i + 1 >= len(rest):
                    raise UsageError(f"{name} needs a value")
                value = rest[i + 1]
                i += 1
            out += [name, value]
        elif arg not in ("--ui", "--webservice"):
            raise UsageError(f"unexpected argument {arg!r} for --start --webservice --ui")
        i += 1
    return out
