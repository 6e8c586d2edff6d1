"""Buffer files (JSONL): paths, reading line by line, consolidating split files, deleting, DataFrames."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from flowcept_core.logger import get_logger

__all__ = ["dump_path", "read_jsonl", "iter_jsonl", "consolidate_files", "delete_file", "to_dataframe"]



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
    """Parse a JSONL file block by block (never the whole file as one string). Blank lines are skipped.

    Each block of whole lines becomes one JSON array for one orjson call; the garbage collector is paused meanwhile
    (only new, acyclic dicts are created) and the result is moved to the oldest generation at the end.
    A malformed line raises orjson.JSONDecodeError naming its line number.
    """
    from flowcept_core.gcpause import gc_paused

    out: list[dict] = []
    with gc_paused(promote=True):  # promote: no young collection walks the whole result right after
        for msgs in iter_jsonl(path):
            out.extend(msgs)
    return out


def iter_jsonl(path: str) -> Iterator[list]:
    """The messages of a JSONL file as successive lists, one per block of lines: memory for one block at a time."""
    import orjson

    loads = orjson.loads
    share = ValueSharer()
    for offset, body in _blocks(path):
        try:
            msgs = loads(b"[" + body.replace(b"\n", b",") + b"]")
        except orjson.JSONDecodeError:
            msgs = _parse_block(path, body, offset)
        share(msgs)
        yield msgs


def _blocks(path: str) -> Iterator[tuple[int, bytes]]:
    """(file offset, bytes) of successive blocks of whole lines, without their last newline; a line longer than a
    block is gathered in pieces and joined once."""
    with open(path, "rb") as f:
        pending: list[bytes] = []
        offset = 0
        while True:
            block = f.read(_BLOCK_BYTES)
            if not block:
                body = b"".join(pending)
                if body:
                    yield offset, body
                return
            cut = block.rfind(b"\n")
            if cut < 0:
                pending.append(block)
                continue
            if pending:
                pending.append(block[:cut])
                body = b"".join(pending)
                pending = []
            else:
                body = block[:cut]
            if body:
                yield offset, body
            offset += len(body) + 1
            if cut + 1 < len(block):
                pending.append(block[cut + 1 :])


_BLOCK_BYTES = 1 << 18  # 256 KiB: the block's new objects stay in cache for the sharing pass (4 MiB: +60% time)


def _parse_block(path: str, body: bytes, offset: int) -> list:
    """A block that did not parse as one array: blank lines (skipped), or a bad line (named, with its number)."""
    import orjson

    lines = body.split(b"\n")
    kept = [line for line in lines if line.strip()]
    try:
        return orjson.loads(b"[" + b",".join(kept) + b"]") if kept else []
    except orjson.JSONDecodeError:
        pass
    first_lineno = _count_newlines(path, offset) + 1
    for i, line in enumerate(lines, first_lineno):
        if line.strip():
            try:
                orjson.loads(line)
            except orjson.JSONDecodeError as e:
                raise orjson.JSONDecodeError(f"{path}:{i}: {e}", e.doc, e.pos) from None
    raise orjson.JSONDecodeError(f"{path}: a block starting at byte {offset} did not parse", "", 0)


def _count_newlines(path: str, upto: int) -> int:
    n = 0
    with open(path, "rb") as f:
        while upto > 0:
            chunk = f.read(min(upto, _BLOCK_BYTES))
            if not chunk:
                break
            n += chunk.count(b"\n")
            upto -= len(chunk)
    return n


class ValueSharer:
    """Makes the values that repeat on nearly every message (type, ids, status, host) one str object each.

    Called on successive lists of decoded messages: a value equal to the previous message's (the usual case in a
    buffer file) costs one comparison; a new one is looked up in a table. Saves ~300 bytes per task message.
    """

    __slots__ = ("table", "last")

    def __init__(self) -> None:
        self.table: dict[str, str] = {}
        self.last: list = [None] * 8

    def __call__(self, msgs: list) -> None:
        sd = self.table.setdefault
        typ, wf, act, st, camp, host, node, login = self.last
        # unrolled: a loop over the field names costs twice as much
        for msg in msgs:
            try:
                v = msg["type"]
                if v == typ:
                    msg["type"] = typ
                elif v.__class__ is str:
                    msg["type"] = typ = sd(v, v)
                v = msg["workflow_id"]
                if v == wf:
                    msg["workflow_id"] = wf
                elif v.__class__ is str:
                    msg["workflow_id"] = wf = sd(v, v)
                v = msg["activity_id"]
                if v == act:
                    msg["activity_id"] = act
                elif v.__class__ is str:
                    msg["activity_id"] = act = sd(v, v)
                v = msg["status"]
                if v == st:
                    msg["status"] = st
                elif v.__class__ is str:
                    msg["status"] = st = sd(v, v)
                v = msg["campaign_id"]
                if v == camp:
                    msg["campaign_id"] = camp
                elif v.__class__ is str:
                    msg["campaign_id"] = camp = sd(v, v)
                if "hostname" not in msg:  # host fields come together (project.enrich_messages)
                    continue
                v = msg["hostname"]
                if v == host:
                    msg["hostname"] = host
                elif v.__class__ is str:
                    msg["hostname"] = host = sd(v, v)
                v = msg["node_name"]
                if v == node:
                    msg["node_name"] = node
                elif v.__class__ is str:
                    msg["node_name"] = node = sd(v, v)
                v = msg["login_name"]
                if v == login:
                    msg["login_name"] = login
                elif v.__class__ is str:
                    msg["login_name"] = login = sd(v, v)
                continue
            except (KeyError, TypeError):  # not a task-shaped dict: a workflow message, a sparse line, a list
                if msg.__class__ is not dict:
                    continue
            for k in _SHARED_FIELDS:
                v = msg.get(k)
                if v.__class__ is str:
                    msg[k] = sd(v, v)
        self.last[:] = (typ, wf, act, st, camp, host, node, login)


_SHARED_FIELDS = ("type", "workflow_id", "campaign_id", "activity_id", "status", "hostname", "node_name", "login_name")


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
    from flowcept_core.private_files import open_private

    with open_private(tmp) as out:
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


def to_dataframe(messages: list[dict], normalize: bool = True) -> Any:
    """A pandas DataFrame; normalize=True gives dotted columns (used.x, telemetry_at_end.cpu.percent_all).

    Nested dicts become dotted columns; lists, empty dicts and workflow metadata blobs (flowcept_settings,
    machine_info, conf, ...) stay values. Columns are in first-seen order; a missing cell is None (NaN in numbers).
    """
    try:
        import pandas as pd
    except ModuleNotFoundError:
        raise ModuleNotFoundError("pandas is needed for DataFrames: pip install pandas") from None
    rows = messages if messages.__class__ is list else list(messages)
    kinds = set(map(type, rows))
    if kinds - {dict}:
        bad = next(i for i, r in enumerate(rows) if r.__class__ is not dict)
        raise TypeError(f"message {bad} is a {type(rows[bad]).__name__}, not a dict: {rows[bad]!r:.80}")
    from flowcept_core.gcpause import gc_paused

    with gc_paused(promote=True):  # millions of new acyclic lists and tuples (and pandas' own objects)
        return pd.DataFrame(_columns(rows) if normalize else rows)


def _columns(rows: list) -> dict[str, list]:
    """Columns (dotted for nested dicts) from row dicts; None where a row lacks the key; first-seen key order.

    Rows are cut into columns by C-level maps where that pays: runs of rows with the same keys (a buffer file is
    mostly long runs of one activity's tasks) by transposing row tuples; rows whose keys change often (activities
    interleaved) a key at a time over all rows; a level of many sparse keys (dicts keyed by sample or file) cell
    by cell, visiting only the cells there are. Nested dicts are flattened level by level the same way.
    """
    parts: dict[Any, list] = {}  # column -> [(first row, values) or ([row, ...], values), ...]
    _segments(rows, "", 0, parts)
    n = len(rows)
    out: dict[Any, list] = {}
    for name, segs in parts.items():
        if len(segs) == 1 and segs[0][0].__class__ is int and len(segs[0][1]) == n:
            out[name] = segs[0][1]
            continue
        col = [None] * n
        ranges = sorted((seg for seg in segs if seg[0].__class__ is int), key=_first_row)
        if all(a[0] + len(a[1]) <= b[0] for a, b in zip(ranges, ranges[1:], strict=False)):
            for s0, vals in ranges:
                col[s0 : s0 + len(vals)] = vals
        else:  # a dotted key that also arrives nested ({"a.b": 1} and {"a": {"b": 2}}): a value beats a gap
            for s0, vals in ranges:
                for i, v in enumerate(vals, s0):
                    if v is not None:
                        col[i] = v
        for rows_at, vals in segs:
            if rows_at.__class__ is not int:  # sparse: the rows that have the key
                for i, v in zip(rows_at, vals, strict=True):
                    if v is not None:
                        col[i] = v
        out[name] = col
    return out


def _first_row(seg: tuple) -> int:
    return seg[0]


def _segments(rows: list, prefix: str, base: int, parts: dict) -> None:
    from itertools import groupby, islice

    limit = max(16, len(rows) >> 6)
    runs = [(keys, sum(1 for _ in run)) for keys, run in islice(groupby(map(tuple, rows)), limit + 1)]
    if len(runs) > limit:  # keys change too often for runs of rows
        from itertools import chain

        keys = dict.fromkeys(chain.from_iterable(rows))
        if len(keys) * len(rows) > 16 * sum(map(len, rows)):  # mostly gaps: visit only the cells there are
            _scattered(rows, range(base, base + len(rows)), prefix, parts)
        else:  # a pass over all rows per key
            _gathered(rows, keys, prefix, base, parts)
        return
    from operator import itemgetter

    start = 0
    for keys, count in runs:
        chunk = rows[start : start + count] if count != len(rows) else rows
        if len(keys) <= 1:
            columns = [list(map(itemgetter(keys[0]), chunk))] if keys else []
        else:  # row tuples, then transposed: one pass over the dicts (a pass per key is cache-hostile)
            columns = list(map(list, zip(*map(itemgetter(*keys), chunk), strict=True)))
        for k, vals in zip(keys, columns, strict=True):
            name = f"{prefix}{k}" if prefix else k
            if (prefix or k not in _KEEP_NESTED) and dict in set(map(type, vals)):
                at = base + start
                for nested, sub in groupby(vals, _is_nested):  # dotted columns for non-empty dicts, else the value
                    sub = list(sub)
                    if nested:
                        _segments(sub, f"{name}.", at, parts)
                    else:
                        parts.setdefault(name, []).append((at, sub))
                    at += len(sub)
            else:
                parts.setdefault(name, []).append((base + start, vals))
        start += count


def _gathered(rows: list, keys: Any, prefix: str, base: int, parts: dict) -> None:
    from itertools import repeat

    get = dict.get
    for k in keys:
        vals = list(map(get, rows, repeat(k)))  # None where a row lacks k
        name = f"{prefix}{k}" if prefix else k
        if (prefix or k not in _KEEP_NESTED) and dict in set(map(type, vals)):
            if not all(vals):  # some rows keep a value here (not a non-empty dict): that column too
                kept = [None if v.__class__ is dict and v else v for v in vals]
                if any(v is not None for v in kept) or any(k in r and r[k] is None for r in rows):
                    parts.setdefault(name, []).append((base, kept))
                vals = [v if v.__class__ is dict else _NO_KEYS for v in vals]
            _segments(vals, f"{name}.", base, parts)
        else:
            parts.setdefault(name, []).append((base, vals))


_NO_KEYS: dict = {}  # stands for "no nested dict in this row"; only read


def _scattered(rows: list, at: Any, prefix: str, parts: dict) -> None:
    """Row by row, for levels of many sparse keys: a column holds the rows that have its key and their values."""
    cols: dict[Any, tuple[list, list]] = {}
    for i, row in zip(at, rows, strict=True):
        for k, v in row.items():
            col = cols.get(k)
            if col is None:
                col = cols[k] = ([], [])
            col[0].append(i)
            col[1].append(v)
    for k, (where, vals) in cols.items():
        name = f"{prefix}{k}" if prefix else k
        if (prefix or k not in _KEEP_NESTED) and dict in set(map(type, vals)):
            nested_at, nested, kept_at, kept = [], [], [], []
            for i, v in zip(where, vals, strict=True):
                if v.__class__ is dict and v:
                    nested_at.append(i)
                    nested.append(v)
                else:
                    kept_at.append(i)
                    kept.append(v)
            if kept:
                parts.setdefault(name, []).append((kept_at, kept))
            _scattered(nested, nested_at, f"{name}.", parts)
        else:
            parts.setdefault(name, []).append((where, vals))


def _is_nested(v: Any) -> bool:
    return v.__class__ is dict and bool(v)


