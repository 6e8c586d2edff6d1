"""Helpers shared by the mlflow plugin tests: polling for a condition, reading one stored task."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

WAIT_SECS = 30.0  # generous: the machine running the tests may be loaded


def wait_for(condition: Callable[[], Any], timeout: float = WAIT_SECS, what: str = "condition") -> Any:
    """Poll condition() until it returns something truthy (returned) or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = condition()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def stored_task(task_id: str, **expected: Any) -> dict | None:
    """The task document stored for task_id when it has every expected field value (None otherwise)."""
    from flowcept import Flowcept

    docs = Flowcept.db.query(filter={"task_id": task_id}) or []
    if len(docs) != 1:
        return None
    doc = docs[0]
    return doc if all(doc.get(k) == v for k, v in expected.items()) else None
