"""Where a report's messages come from: a JSONL buffer file (streamed), in-memory records, or the database."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["iter_jsonl_file", "iter_jsonl_blocks", "iter_db", "Progress"]

_BLOCK = 512 << 10  # bytes read at a time: parsed, a block takes ~20x its size; one block at a time
PROGRESS_MIN_BYTES = 32 << 20  # files smaller than this report too fast for a progress bar to help


class Progress:
    """A rich progress bar on stderr for long inputs; does nothing when stderr is no terminal or rich is missing.

    Used as a context manager by the report readers; ``advance(n)`` is called per block read.
    """

    def __init__(self, total: int, description: str) -> None:
        self._bar: Any = None
        self._task: Any = None
        if total < PROGRESS_MIN_BYTES or not sys.stderr.isatty():
            return
        try:
            from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
        except ImportError:
            return
        self._bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            transient=True,
            console=None,
        )
        self._task = self._bar.add_task(description, total=total)

    def __enter__(self) -> Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def iter_jsonl_file(path: str, description: str = "reading") -> Iterator[dict]:
    """Called by reports and the CLI; yields the messages of a JSONL buffer file one at a time, a block of lines
    parsed at a time (memory for one block), with a progress bar for long files on a terminal.

    Raises FileNotFoundError naming the path when it does not exist, ValueError naming the line of a malformed one.
    """
    from itertools import chain

    return chain.from_iterable(iter_jsonl_blocks(path, description))


def iter_jsonl_blocks(
    path: str, description: str = "reading", skipped: list[int] | None = None, share_snapshots: bool = False
) -> Iterator[list[dict]]:
    """Like :func:`iter_jsonl_file`, a list of messages per block (the cheaper loop for a million messages).

    With ``skipped`` (a one-item list), malformed lines are skipped and counted in ``skipped[0]`` instead of raising.
    With ``share_snapshots`` (for readers that do not change the messages, like reports), lines of a block that end
    with the same telemetry snapshots (tasks that ran between two readings of the sampler) get them parsed once and
    share those dicts.
    """
    import orjson

    if not os.path.isfile(path):
        raise FileNotFoundError(f"JSONL file {path!r} does not exist")
    return _iter(path, description, orjson, skipped, share_snapshots)


_START_KEY, _END_KEY = b'"telemetry_at_start":', b',"telemetry_at_end":'
_SHARED_KEY = "\x00shared_snapshots"
_SHARED_REF = b'"\\u0000shared_snapshots":%d'
_MAX_MISSES = 8  # tasks whose snapshots do not repeat, per block (plus one per repeating pair found): then stop


def _share_snapshots(body: bytes, orjson: Any) -> tuple[bytes, list[dict], int]:
    """Replaces each ``"telemetry_at_start":S,"telemetry_at_end":E`` text that repeats in the block (the sampler's
    readings, the same for every task that ran between two of them) by a numbered reference; returns the new body,
    the parsed pairs by number, and how many references it wrote. S must parse as an object and E be S or an S seen
    before in the block. JSON strings cannot hold these bytes (their quotes would be escaped); a nested dict could,
    which the caller detects (a reference not found at the top level) and answers by parsing the block as it is."""
    data, tails, texts, start, misses, refs = body, [], [], 0, 0, 0
    while misses < _MAX_MISSES + len(tails) and len(tails) < 256:
        at = data.find(_START_KEY, start)
        if at < 0:
            break
        mid = data.find(_END_KEY, at)
        eol = data.find(b"\n", at)
        snap = data[at + len(_START_KEY) : mid] if mid > 0 and (eol < 0 or mid < eol) else b""
        end = next((t for t in (snap, *texts) if t and data.startswith(t, mid + len(_END_KEY))), None)
        try:
            parsed = orjson.loads(snap) if end is not None else None
        except orjson.JSONDecodeError:
            parsed = None
        pattern = data[at : mid + len(_END_KEY) + len(end)] if type(parsed) is dict else b""
        ref = _SHARED_REF % len(tails)
        if len(pattern) <= len(ref) or data.count(pattern, at) < 2:
            misses += 1
            start = at + len(_START_KEY)
            continue
        texts.append(snap)
        before = len(data)
        data = data[:at] + data[at:].replace(pattern, ref)
        refs += (before - len(data)) // (len(pattern) - len(ref))
        tails.append({"telemetry_at_start": parsed, "telemetry_at_end": parsed if end is snap else orjson.loads(end)})
        start = at + len(ref)
    return data, tails, refs


def _iter(path: str, description: str, orjson: Any, skipped: list[int] | None, share: bool) -> Iterator[list[dict]]:
    line_no = 0
    with open(path, "rb") as f, Progress(os.path.getsize(path), description) as bar:
        rest = b""
        while True:
            chunk = f.read(_BLOCK)
            bar.advance(len(chunk))
            if not chunk:
                body, rest = rest, b""
            else:
                data = rest + chunk
                cut = data.rfind(b"\n")
                if cut < 0:
                    rest = data
                    continue
                body, rest = data[:cut], data[cut + 1 :]
            if body.strip():
                yield (
                    _parse_sharing(body, line_no, path, orjson, skipped)
                    if share and _START_KEY in body
                    else _parse(body, line_no, path, orjson, skipped)
                )
            line_no += body.count(b"\n") + 1
            if not chunk:
                return


def _parse_sharing(body: bytes, first_line: int, path: str, orjson: Any, skipped: list[int] | None) -> list[dict]:
    shared, tails, refs = _share_snapshots(body, orjson)
    if not refs:
        return _parse(body, first_line, path, orjson, skipped)
    bad = [0] if skipped is not None else None
    msgs = _parse(shared, first_line, path, orjson, bad)
    for m in msgs:
        ref = m.pop(_SHARED_KEY, None) if type(m) is dict else None
        if type(ref) is int and ref < len(tails):
            m.update(tails[ref])
            refs -= 1
    # a reference left inside a value (a nested dict with these keys) or in a skipped line: parse the block as it is
    if refs:
        return _parse(body, first_line, path, orjson, skipped)
    if skipped is not None and bad:
        skipped[0] += bad[0]
    return msgs


def _parse(body: bytes, first_line: int, path: str, orjson: Any, skipped: list[int] | None) -> list[dict]:
    try:  # the common case, one C call: whole lines, no blank one
        return orjson.loads(b"[" + body.replace(b"\n", b",") + b"]")
    except orjson.JSONDecodeError:
        pass
    lines = body.split(b"\n")
    try:
        return orjson.loads(b"[" + b",".join(ln for ln in lines if ln.strip()) + b"]")
    except orjson.JSONDecodeError:
        out = []
        for i, ln in enumerate(lines):
            if ln.strip():
                try:
                    out.append(orjson.loads(ln))
                except orjson.JSONDecodeError as e:
                    if skipped is not None:
                        skipped[0] += 1
                        continue
                    raise ValueError(f"{path}: line {first_line + i + 1} is not valid JSON ({e})") from None
        return out


def iter_db(workflow_id: str | None, campaign_id: str | None, settings: Any = None) -> Iterable[dict]:
    """Called by reports in database mode; returns the workflow documents then the task documents of one workflow
    (or of every workflow of one campaign), read through DBAPI. Raises LookupError when none is found."""
    from flowcept_core.query import DBAPI

    db = DBAPI(settings)
    filt = {"workflow_id": workflow_id} if workflow_id else {"campaign_id": campaign_id}
    workflows = db.query(filt, collection="workflows") or []
    tasks = db.query(filt, sort=[("started_at", 1)]) or []
    if not workflows and not tasks:
        what = f"workflow_id={workflow_id!r}" if workflow_id else f"campaign_id={campaign_id!r}"
        raise LookupError(f"no workflow or task found in the database for {what}")
    for w in workflows:
        w.setdefault("type", "workflow")
    for t in tasks:
        t.setdefault("type", "task")
    return [*workflows, *tasks]
