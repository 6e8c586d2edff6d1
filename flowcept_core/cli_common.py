"""What the ``flowcept`` subcommands share: the usage error (exit status 2), JSON arguments, and output as a table
or JSON lines."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

__all__ = ["UsageError", "json_arg", "print_docs", "flatten", "TABLE_COLUMNS", "working"]

# columns a table shows for a collection when no projection is given
TABLE_COLUMNS = {
    "tasks": ["task_id", "activity_id", "status", "started_at", "ended_at", "workflow_id"],
    "workflows": ["workflow_id", "name", "status", "started_at", "campaign_id"],
    "objects": ["object_id", "type", "workflow_id", "task_id"],
}


class working:  # noqa: N801 (used as a statement: ``with working("querying"):``)
    """A rich spinner on stderr with the elapsed time while the block runs (store queries, exports), when stderr is
    a terminal and rich is installed; nothing otherwise. Reading a buffer file shows a progress bar instead
    (flowcept_core.report.source.Progress)."""

    def __init__(self, description: str) -> None:
        self._status: Any = None
        if sys.stderr.isatty():
            try:
                from rich.console import Console
            except ImportError:
                return
            self._status = Console(stderr=True).status(description)

    def __enter__(self) -> working:
        if self._status is not None:
            self._status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()


class UsageError(Exception):
    """A bad argument, a missing file or an unknown id: printed as one line, exit status 2."""


def json_arg(text: str | None, name: str, kind: type | tuple[type, ...] = dict) -> Any:
    """Called for JSON-valued options; returns the parsed value or None, raising UsageError naming the option."""
    if text is None:
        return None
    import json

    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"{name} is not valid JSON ({e.msg} at column {e.colno}): {text!r}") from None
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise UsageError(
            f"{name} must be a JSON {names.replace('dict', 'object').replace('list', 'array')}, got {text!r}"
        )
    return value


def flatten(doc: dict, prefix: str = "", out: dict | None = None) -> dict:
    """Called for tables and CSV; returns doc with nested dicts as dotted keys (``used.x``)."""
    out = {} if out is None else out
    for k, v in doc.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            flatten(v, key + ".", out)
        else:
            out[key] = v
    return out


def _text(v: Any, width: int = 40) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v > 1e9:  # a timestamp
        from datetime import UTC, datetime

        return datetime.fromtimestamp(v, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    s = v if isinstance(v, str) else repr(v)
    return s if len(s) <= width else s[: width - 3] + "..."


def print_docs(docs: Iterable[dict], fmt: str, columns: list[str] | None = None, out: Any = None) -> int:
    """Called by query, read-buffer and workflows; prints docs as ``table`` or ``jsonl``; returns how many."""
    out = out or sys.stdout
    n = 0
    if fmt == "jsonl":
        import orjson

        for d in docs:
            out.write(orjson.dumps(d, default=str, option=orjson.OPT_NON_STR_KEYS).decode() + "\n")
            n += 1
        return n
    rows = [flatten(d) for d in docs]
    if not rows:
        print("(no documents)", file=out)
        return 0
    cols = columns or list(dict.fromkeys(k for r in rows[:50] for k in r))[:8]
    cells = [[_text(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip(), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip(), file=out)
    return len(rows)
