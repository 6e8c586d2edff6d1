"""CaptureState: what was already captured from one tracking database, kept in a small JSON file between runs.

Written when the interceptor stops (after its last read), read when it starts, so a restart neither sends a run
again nor misses what was logged while flowcept was not running. A process killed before it stops leaves the
previous file: the next start sends again what it had sent since, which stores merge by task_id into the same
documents.

File layout (``version`` 1)::

    {"version": 1, "tracking_db": "/abs/mlflow.db", "inode": 1234, "marks": {"runs": 3, "params": 9, ...},
     "runs": {"<run_id>": ["<workflow_id>", "<campaign_id>", "FINISHED", 1796368508286, "<digest>", "active",
                           "<run name>"]}}
"""

from __future__ import annotations

import json
import os
from typing import Any

__all__ = ["CaptureState", "RunRecord"]

_VERSION = 1
_RECORD_LEN = 7

# [workflow_id, campaign_id, mlflow status, end_time (ms), digest of the last message's fields, lifecycle_stage,
#  run name]
RunRecord = list


class CaptureState:
    """Marks (largest rowid read per table), the inode of the database they belong to, and one RunRecord per run."""

    def __init__(self, path: str, tracking_db: str):
        self.path = path
        self.tracking_db = tracking_db
        self.inode: int | None = None
        self.marks: dict[str, int] = {}
        self.runs: dict[str, RunRecord] = {}
        self.loaded = False  # a state file for this database was read (False: the first start on it)

    def load(self) -> CaptureState:
        """Read the file when it exists and belongs to this database; a missing or unreadable file means a first
        start (logged when unreadable). Returns self."""
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return self
        except (OSError, ValueError) as e:
            from flowcept_core.plugin import get_logger

            get_logger().warning(f"mlflow interceptor: ignoring the unreadable state file {self.path} ({e}); runs "
                                 "already captured may be sent again (stores merge them by task_id)")
            return self
        if not isinstance(data, dict) or data.get("version") != _VERSION or data.get("tracking_db") != self.tracking_db:
            return self
        self.inode = data.get("inode")
        self.marks = {k: int(v) for k, v in (data.get("marks") or {}).items()}
        self.runs = {k: list(v) for k, v in (data.get("runs") or {}).items()
                     if isinstance(v, list) and len(v) == _RECORD_LEN}
        self.loaded = True
        return self

    def database_changed(self, inode: int | None) -> None:
        """The file at tracking_db is another database than the marks were read from: start over on it."""
        if self.inode != inode:
            if self.inode is not None:
                self.marks = {}
            self.inode = inode

    def save(self) -> None:
        """Write the file atomically (a private file beside it, then rename); logs instead of raising.

        Runs another process watching the same database saved meanwhile are kept (so their tasks keep their
        workflow); the marks are this watcher's own, which at worst makes the next start read some rows again.
        """
        from flowcept_core.plugin import get_logger, make_private_dirs, open_private

        other = CaptureState(self.path, self.tracking_db).load()
        if other.loaded and other.inode == self.inode:
            self.runs = {**other.runs, **self.runs}
        data: dict[str, Any] = {"version": _VERSION, "tracking_db": self.tracking_db, "inode": self.inode,
                                "marks": self.marks, "runs": self.runs}
        tmp = f"{self.path}.{os.getpid()}.tmp"
        try:
            make_private_dirs(os.path.dirname(self.path) or ".")
            with open_private(tmp, "wb") as f:
                f.write(json.dumps(data, separators=(",", ":")).encode())
            os.replace(tmp, self.path)
        except OSError as e:
            get_logger().error(f"mlflow interceptor could not write its state file {self.path} ({e}); the next "
                               "start sends the runs captured since the last saved state again")
