"""Buffer files (JSONL): paths, reading block by block, consolidating split files, deleting.

Decoded messages share their repeated values (flowcept_core.value_sharing); DataFrames are built by
flowcept_core.dataframes."""

from __future__ import annotations

import os
from collections.abc import Iterator

from flowcept_core.value_sharing import ValueSharer

__all__ = ["dump_path", "read_jsonl", "iter_jsonl", "consolidate_files", "delete_file"]



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
        return True
    except FileNotFoundError:
        return False
