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
        self._bar = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                             TimeRemainingColumn(), transient=True, console=None)
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


def iter_jsonl_blocks(path: str, description: str = "reading", skipped: list[int] | None = None
                      ) -> Iterator[list[dict]]:
    """Like :func:`iter_jsonl_file`, a list of messages per block (the cheaper loop for a million messages).

    With ``skipped`` (a one-item list), malformed lines are skipped and counted in ``skipped[0]`` instead of raising.
    """
    import orjson

    if not os.path.isfile(path):
        raise FileNotFoundError(f"JSONL file {path!r} does not exist")
    return _iter(path, description, orjson, skipped)


def _iter(path: str, description: str, orjson: Any, skipped: list[int] | None) -> Iterator[list[dict]]:
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
                body, rest = data[:cut], data[cut + 1:]
            if body.strip():
                yield _parse(body, line_no, path, orjson, skipped)
            line_no += body.count(b"\n") + 1
            if not chunk:
                return


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
