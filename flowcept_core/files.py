"""Buffer files (JSONL): paths, reading line by line, consolidating split files, deleting, DataFrames."""

from __future__ import annotations

import os
from typing import Any

from flowcept_core.logger import get_logger

__all__ = ["dump_path", "read_jsonl", "consolidate_files", "delete_file", "to_dataframe"]

# Values that repeat on almost every line: one shared str object each instead of a copy per message.
_SHARED_VALUE_KEYS = ("type", "workflow_id", "campaign_id", "activity_id", "status", "hostname", "node_name",
                      "login_name", "subtype", "adapter_id", "workflow_name", "agent_id")


def dump_path(base: str, producer_id: str | None = None, workflow_id: str | None = None,
              append_id: bool = False, append_workflow_id: bool = False) -> str:
    """The buffer file path from project.dump_buffer: base, with _<workflow_id> and/or _<producer id> appended."""
    stem, ext = os.path.splitext(base)
    if append_workflow_id and workflow_id:
        stem = f"{stem}_{workflow_id}"
    if append_id and producer_id:
        stem = f"{stem}_{producer_id}"
    return f"{stem}{ext or '.jsonl'}"


def read_jsonl(path: str) -> list[dict]:
    """Parse a JSONL file line by line (never the whole file as one string). Blank lines are skipped.

    A malformed line raises orjson.JSONDecodeError naming the line number.
    """
    import orjson

    out: list[dict] = []
    append = out.append
    loads = orjson.loads
    shared: dict[str, str] = {}
    keys = _SHARED_VALUE_KEYS
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            try:
                msg = loads(line)
            except orjson.JSONDecodeError as e:
                if not line.strip():
                    continue
                raise orjson.JSONDecodeError(f"{path}:{lineno}: {e}", e.doc, e.pos) from None
            if type(msg) is dict:
                for k in keys:
                    v = msg.get(k)
                    if v is not None and type(v) is str:
                        msg[k] = shared.setdefault(v, v)
            append(msg)
    return out


def consolidate_files(base: str, workflow_id: str | None, cleanup_files: bool = True) -> str:
    """Merge the split buffer files of base (``<stem>_*<ext>``) into ``<stem>_<workflow_id><ext>``.

    With a workflow_id only its messages are kept. Returns the consolidated path. Inputs are deleted when
    cleanup_files is true (the output is written first, so nothing is lost if writing fails).
    """
    import glob

    import orjson

    stem, ext = os.path.splitext(base)
    ext = ext or ".jsonl"
    target = f"{stem}_{workflow_id}{ext}" if workflow_id else f"{stem}_consolidated{ext}"
    candidates = glob.glob(f"{glob.escape(stem)}_*{ext}")
    inputs = sorted(p for p in candidates if os.path.abspath(p) != os.path.abspath(target))
    if os.path.exists(base):
        inputs.insert(0, base)
    if os.path.exists(target):
        inputs.insert(0, target)
    wanted = workflow_id.encode() if workflow_id else None
    tmp = f"{target}.tmp-{os.getpid()}"
    with open(tmp, "wb") as out:
        for p in inputs:
            with open(p, "rb") as f:
                for line in f:
                    if not line.strip():
                        continue
                    if wanted is not None and wanted not in line:
                        continue
                    if wanted is not None and orjson.loads(line).get("workflow_id") != workflow_id:
                        continue
                    out.write(line if line.endswith(b"\n") else line + b"\n")
    os.replace(tmp, target)
    if cleanup_files:
        for p in inputs:
            if os.path.abspath(p) != os.path.abspath(target):
                delete_file(p)
    return target


def delete_file(path: str) -> bool:
    """Delete path if it exists; True when a file was removed."""
    try:
        os.remove(path)
        get_logger().debug(f"deleted buffer file {path}")
        return True
    except FileNotFoundError:
        get_logger().debug(f"buffer file {path} not found; nothing to delete")
        return False


def to_dataframe(messages: list[dict], normalize: bool = True) -> Any:
    """A pandas DataFrame; normalize=True gives dotted columns (used.x, telemetry_at_end.cpu.percent_all)."""
    try:
        import pandas as pd
    except ModuleNotFoundError:
        raise ModuleNotFoundError("pandas is needed for DataFrames: pip install pandas") from None
    if normalize:
        return pd.json_normalize(messages, sep=".")
    return pd.DataFrame(messages)
