"""A store that goes away mid-run: the DocumentInserter keeps the batch, retries, and stores everything once."""

from __future__ import annotations

import os
import time

import pytest

from flowcept import Flowcept, flowcept_task
from flowcept_core.stores import close_stores
from tests._util import use_settings
from tests.services import start_mongo_wire, stop_server

pytest.importorskip("flowcept_mongodb", reason="the mongodb plugin is not installed")


@flowcept_task
def step(i):
    return i


def test_store_outage_is_retried_and_nothing_is_lost_or_duplicated(tmp_path, monkeypatch):
    data = tmp_path / "nx"
    proc, uri = start_mongo_wire(data)
    if proc is None:
        pytest.skip(f"MongoDB-wire server could not start: {uri}")
    port = int(uri.rsplit(":", 1)[1].strip("/"))
    monkeypatch.chdir(tmp_path)
    use_settings(tmp_path, monkeypatch, {
        "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
        "mq": {"type": "memory", "channel": f"retry-{os.getpid()}", "insertion_buffer_time_secs": 0.1,
               "stop_timeout_secs": 20},
        "db_buffer": {"insertion_buffer_time_secs": 0.1, "buffer_size": 20},
        "databases": {"lmdb": {"enabled": False}, "mongodb": {"enabled": True, "uri": uri, "db": "retry"}}})
    close_stores()
    try:
        with Flowcept(workflow_name="outage") as fc:
            for i in range(100):
                step(i)
            time.sleep(0.5)
            stop_server(proc)  # the store goes away
            for i in range(100, 200):
                step(i)
            inserter = fc._inserter
            deadline = time.time() + 30
            while inserter.failed_writes < 1 and time.time() < deadline:  # it fails and keeps its batch
                time.sleep(0.1)
            assert inserter.failed_writes >= 1
            proc, why = start_mongo_wire(data, port)  # back, with its data
            assert proc is not None, why
        tasks = Flowcept.db.task_query({"workflow_id": fc.current_workflow_id})
        assert sorted(t["used"]["i"] for t in tasks) == list(range(200))
        assert len({t["task_id"] for t in tasks}) == 200
    finally:
        close_stores()
        stop_server(proc)
