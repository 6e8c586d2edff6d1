"""Functions the tests run on Dask workers (a module the worker processes import by name)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from flowcept import flowcept_task


def add(x, y=10):
    return x + y


def total(values, scale=1):
    return sum(values) * scale


def fail(x):
    raise ValueError(f"cannot take {x}")


def fail_until(marker: str, attempts: int, x):
    """Raises until it has been called attempts times (counted in the marker file), then returns x * 2."""
    path = Path(marker)
    count = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(count))
    if count < attempts:
        raise RuntimeError(f"attempt {count} fails")
    return x * 2


def wait_for_file(path: str, limit: float = 30.0):
    """Blocks until path exists (or limit seconds pass); lets a test hold a task in the running state."""
    deadline = time.monotonic() + limit
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    return "released"


def die_once(marker: str, x):
    """Kills its worker process the first time (the scheduler then runs it elsewhere); returns x + 1 after."""
    path = Path(marker)
    if not path.exists():
        path.write_text("died")
        os._exit(1)
    return x + 1


@flowcept_task
def scaled(x, factor=3):
    return x * factor


def uses_decorated(x):
    return scaled(x) + scaled(x, factor=5)


# helpers of the tests (not run on workers) ----------------------------------------------------------------------
def new_cluster(n_workers: int = 2) -> tuple[Any, Any]:
    """A LocalCluster with worker processes on loopback, and a client connected to it."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           host="127.0.0.1")
    return cluster, Client(cluster)


def tasks_of(workflow_id: str, expected: int = 0, timeout: float = 30.0) -> dict[str, dict]:
    """The workflow's stored task documents by task_id (waiting up to timeout for at least expected of them)."""
    from flowcept import Flowcept

    deadline = time.monotonic() + timeout
    while True:
        docs = Flowcept.db.query(filter={"workflow_id": workflow_id}) or []
        found = {d["task_id"]: d for d in docs if d.get("task_id")}
        if len(found) >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.1)
