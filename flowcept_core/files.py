"""Buffer files (JSONL): paths, reading line by line, consolidating split files, deleting, DataFrames."""

from __future__ import annotations

import os
from typing import Any

from flowcept_core.logger import get_logger

__all__ = ["dump_path", "read_jsonl", "consolidate_files", "delete_file", "to_dataframe"]



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
    """Parse a JSONL file in chunks of lines (never the whole file as one string). Blank lines are skipped.

    Each chunk is parsed by one orjson call (as a JSON array of its lines); the garbage collector is paused meanwhile
    (only new, acyclic dicts are created). A malformed line raises orjson.JSONDecodeError naming its line number.
    """
    import gc

    import orjson

    out: list[dict] = []
    shared: dict[str, str] = {}
    lineno = 0
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with open(path, "rb") as f:
            while True:
                lines = f.readlines(_CHUNK_BYTES)
                if not lines:
                    break
                try:
                    msgs = orjson.loads(b"[" + b",".join(line for line in lines if line.strip()) + b"]")
                except orjson.JSONDecodeError:
                    msgs = _parse_lines(path, lines, lineno)
                lineno += len(lines)
                share_values(msgs, shared)  # one str object per repeated value, not one per line
                out.extend(msgs)
    finally:
        if was_enabled:
            gc.enable()
    return out


_CHUNK_BYTES = 1 << 20


def _parse_lines(path: str, lines: list[bytes], first_lineno: int) -> list:
    """Slow path after a chunk failed to parse: find and name the bad line."""
    import orjson

    msgs = []
    for i, line in enumerate(lines, first_lineno + 1):
        if not line.strip():
            continue
        try:
            msgs.append(orjson.loads(line))
        except orjson.JSONDecodeError as e:
            raise orjson.JSONDecodeError(f"{path}:{i}: {e}", e.doc, e.pos) from None
    return msgs


def share_values(msgs: list, shared: dict[str, str]) -> None:
    """Make the values that repeat on nearly every message (type, ids, status, host) one str object each."""
    sd = shared.setdefault
    for msg in msgs:
        if msg.__class__ is not dict:
            continue
        get = msg.get
        # unrolled over the fields that repeat on nearly every line (a loop over the keys costs twice as much)
        v = get("type")
        if v.__class__ is str:
            msg["type"] = sd(v, v)
        v = get("workflow_id")
        if v.__class__ is str:
            msg["workflow_id"] = sd(v, v)
        v = get("campaign_id")
        if v.__class__ is str:
            msg["campaign_id"] = sd(v, v)
        v = get("activity_id")
        if v.__class__ is str:
            msg["activity_id"] = sd(v, v)
        v = get("status")
        if v.__class__ is str:
            msg["status"] = sd(v, v)
        v = get("hostname")
        if v.__class__ is str:
            msg["hostname"] = sd(v, v)
            v = get("node_name")
            if v.__class__ is str:
                msg["node_name"] = sd(v, v)
            v = get("login_name")
            if v.__class__ is str:
                msg["login_name"] = sd(v, v)


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


# Workflow metadata blobs stay one column each: flattened, the settings snapshot alone adds ~90 sparse columns.
_KEEP_NESTED = frozenset({"flowcept_settings", "machine_info", "conf", "code_repository", "extra_metadata"})


def flatten_message(msg: dict) -> dict:
    """Nested dicts as dotted keys: {"used": {"x": 1}} -> {"used.x": 1}. Lists, empty dicts and workflow metadata
    blobs (flowcept_settings, machine_info, conf, ...) stay values."""
    flat: dict = {}
    for k, v in msg.items():
        if v.__class__ is dict and v and k not in _KEEP_NESTED:
            stack = [(f"{k}.", v)]
            while stack:
                prefix, d = stack.pop()
                for k2, v2 in d.items():
                    if v2.__class__ is dict and v2:
                        stack.append((f"{prefix}{k2}.", v2))
                    else:
                        flat[f"{prefix}{k2}"] = v2
        else:
            flat[k] = v
    return flat


def to_dataframe(messages: list[dict], normalize: bool = True) -> Any:
    """A pandas DataFrame; normalize=True gives dotted columns (used.x, telemetry_at_end.cpu.percent_all)."""
    try:
        import pandas as pd
    except ModuleNotFoundError:
        raise ModuleNotFoundError("pandas is needed for DataFrames: pip install pandas") from None
    if normalize:
        return pd.DataFrame(_columns(map(flatten_message, messages)))
    return pd.DataFrame(messages)


def _columns(rows: Any) -> dict[str, list]:
    """Column lists from row dicts (missing cells None), in first-seen key order; cheaper for pandas than rows."""
    cols: dict[str, list] = {}
    n = 0
    for row in rows:
        for k, v in row.items():
            col = cols.get(k)
            if col is None:
                col = cols[k] = [None] * n
            elif len(col) < n:
                col.extend([None] * (n - len(col)))
            col.append(v)
        n += 1
    for col in cols.values():
        if len(col) < n:
            col.extend([None] * (n - len(col)))
    return cols
