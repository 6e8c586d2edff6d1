"""Data derived from a workflow's tasks (the provenance browser's columns and figures of a large workflow), kept in
files beside the store and valid while no task was written since.

A file is ``<databases.lmdb.path>/derived/<sha256 of kind and workflow id>.bin``: its stamp, then the caller's bytes.
The stamp (``stamp``) is what must be unchanged for the derived data to still hold: the store file's identity
(device and inode of data.mdb), the number of task writes the store has seen (every upsert of tasks, by any process,
adds one: the sequence number ``_lineage.note_written`` gives) and the workflow's task count (a deletion lowers it).
Read the stamp before the tasks the data is derived from: a task written in between changes it, so the data is
never taken for newer than it is. Files are private (0600 in a 0700 folder: they hold captured values), written
whole (renamed into place), at most MAX_FILES of them (the least recently written go); any failure to read or write
one only means that the data is derived again.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from typing import Any

__all__ = ["Derived", "stamp", "load", "save", "MAX_FILES"]

MAX_FILES = 32
_FOLDER = "derived"


def stamp(store: Any, workflow_id: Any) -> bytes | None:
    """The stamp of the workflow's tasks now (see the module), or None when it cannot be told (a workflow id that
    is not a string the index holds exactly)."""
    from flowcept_lmdb._lineage import _SEQ
    from flowcept_lmdb._query import indexed_count

    try:
        st = os.stat(os.path.join(store._cfg.path, "data.mdb"))
    except OSError:
        return None
    seq = store._read(lambda txn: txn.get(_SEQ, db=store._env().lineage["pending"]) or b"")
    count = indexed_count(store, "tasks", "workflow_id", workflow_id)
    if count is None:
        return None
    return f"{st.st_dev}:{st.st_ino}:{int.from_bytes(seq, 'big')}:{count}".encode()


def _file(store: Any, kind: str, workflow_id: Any) -> str:
    name = hashlib.sha256(f"{kind}\0{workflow_id!r}".encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return os.path.join(store._cfg.path, _FOLDER, name + ".bin")


def load(store: Any, kind: str, workflow_id: Any, current: bytes) -> bytes | None:
    """The bytes saved for (kind, workflow) under the stamp current, or None (none saved, or under another)."""
    try:
        with open(_file(store, kind, workflow_id), "rb") as f:
            head = f.read(2)
            if len(head) < 2 or f.read(int.from_bytes(head, "big")) != current:
                return None
            return f.read()
    except OSError:
        return None


def save(store: Any, kind: str, workflow_id: Any, at: bytes, data: bytes) -> bool:
    """Keep data for (kind, workflow) under the stamp at (read before the tasks data comes from); False when the
    file could not be written (a read-only folder, a full disk)."""
    from flowcept_core.plugin import make_private_dirs

    path = _file(store, kind, workflow_id)
    folder = os.path.dirname(path)
    tmp = None
    try:
        make_private_dirs(folder)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")  # 0600
        with os.fdopen(fd, "wb") as f:
            f.write(len(at).to_bytes(2, "big") + at)
            f.write(data)
        os.replace(tmp, path)
        tmp = None
        _prune(folder)
        return True
    except OSError:
        return False
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _prune(folder: str) -> None:
    """At most MAX_FILES files: the least recently written go; so do files left half written (a process that ended
    while writing) an hour later."""
    import time

    with os.scandir(folder) as it:
        entries = [(e.stat().st_mtime_ns, e.path, e.name) for e in it]
    files = [(t, path) for t, path, name in entries if name.endswith(".bin")]
    old = time.time_ns() - 3600 * 10**9
    for t, path, name in entries:
        if name.endswith(".tmp") and t < old:
            try:
                os.unlink(path)
            except OSError:
                pass
    if len(files) > MAX_FILES:
        for _, path in sorted(files)[: len(files) - MAX_FILES]:
            try:
                os.unlink(path)
            except OSError:
                pass


class Derived:
    """A store's derived-data files (``LMDBStore.derived``): what other plugins (the provenance browser) use."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def stamp(self, workflow_id: Any) -> bytes | None:
        """The stamp of the workflow's tasks now; read it before the tasks the data is derived from."""
        return stamp(self._store, workflow_id)

    def load(self, kind: str, workflow_id: Any, current: bytes) -> bytes | None:
        """The bytes kept for (kind, workflow) under the stamp current, or None."""
        return load(self._store, kind, workflow_id, current)

    def save(self, kind: str, workflow_id: Any, at: bytes, data: bytes) -> bool:
        """Keep data for (kind, workflow) under the stamp at; False when it could not be written."""
        return save(self._store, kind, workflow_id, at, data)
