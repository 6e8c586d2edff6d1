"""Persistence end to end: capture -> MQ -> DocumentInserter -> store -> Flowcept.db, with the default and
distributed across processes (the seeds' persistence_starter / distributed_tasks example, on Redis)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from flowcept import Flowcept, flowcept_task
from flowcept_core.registry import reset_registry
from flowcept_core.settings import reset_settings
from flowcept_core.stores import close_stores
from tests._util import use_settings

pytest.importorskip("flowcept_lmdb", reason="the lmdb plugin is not installed")


@pytest.fixture(autouse=True)
def fresh_stores():
    close_stores()
    yield
    close_stores()


@flowcept_task(output_names="y")
def double(x):
    return 2 * x


def test_zero_configuration_run_is_queryable_afterwards(tmp_path, monkeypatch):
    monkeypatch.delenv("FLOWCEPT_SETTINGS_PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    reset_settings()
    reset_registry()
    with Flowcept(workflow_name="zero-config") as fc:
        for i in range(300):
            double(i)
    tasks = Flowcept.db.get_tasks_from_current_workflow()
    assert sorted(t["used"]["x"] for t in tasks) == list(range(300))
    assert all(t["generated"] == {"y": 2 * t["used"]["x"]} and t["status"] == "FINISHED" for t in tasks)
    (wf,) = Flowcept.db.workflow_query({"workflow_id": fc.current_workflow_id})
    assert wf["name"] == "zero-config" and wf["status"] == "FINISHED" and wf["ended_at"] >= wf["started_at"]
    assert Flowcept.db.get_workflow_object(fc.current_workflow_id).name == "zero-config"
    assert os.path.isdir(tmp_path / "flowcept_lmdb")


def test_the_inserter_leaves_the_garbage_collector_on_while_it_waits(tmp_path, monkeypatch):
    """The DocumentInserter pauses the collector only while it stores a burst: an idle run keeps it on (and a run
    that stored a burst leaves it as it found it)."""
    import gc

    monkeypatch.delenv("FLOWCEPT_SETTINGS_PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    reset_settings()
    reset_registry()
    assert gc.isenabled()
    with Flowcept(workflow_name="idle"):
        for i in range(5000):
            double(i)
        time.sleep(0.3)  # the burst is stored
        samples = []
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            samples.append(gc.isenabled())
            time.sleep(0.001)
    assert sum(samples) >= 0.95 * len(samples), f"collector off in {len(samples) - sum(samples)} of {len(samples)}"
    assert gc.isenabled()
    assert len(Flowcept.db.get_tasks_from_current_workflow()) == 5000


def test_without_persistence_nothing_is_stored(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    use_settings(tmp_path, monkeypatch, {"project": {"db_flush_mode": "online"},
                                         "databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "db")}}})
    with Flowcept(start_persistence=False) as fc:
        double(1)
    assert Flowcept.db.task_query({"workflow_id": fc.current_workflow_id}) == []


def test_neither_store_enabled_gives_a_clear_error_on_query(tmp_path, monkeypatch):
    from flowcept_core.stores import NoDatabaseError

    use_settings(tmp_path, monkeypatch, {"databases": {"lmdb": {"enabled": False}}})
    with pytest.raises(NoDatabaseError, match="databases.lmdb.enabled"):
        Flowcept.db.task_query({})


def _redis_port() -> int | None:
    for port in (6379, 6390):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return port
        except OSError:
            continue
    return None


def test_distributed_mode_stores_every_task_of_every_producer_exactly_once(tmp_path, monkeypatch):
    pytest.importorskip("flowcept_redis", reason="the redis plugin is not installed")
    port = _redis_port()
    if port is None:
        pytest.skip("no Redis on 127.0.0.1:6379 or 6390")
    channel = f"dist-{uuid.uuid4().hex[:8]}"
    db = tmp_path / "db"
    settings_path = use_settings(tmp_path, monkeypatch, {
        "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
        "mq": {"type": "redis", "host": "127.0.0.1", "port": port, "channel": channel,
               "insertion_buffer_time_secs": 0.2},
        "db_buffer": {"insertion_buffer_time_secs": 0.2},
        "databases": {"lmdb": {"enabled": True, "path": str(db)}}})
    env = dict(os.environ, FLOWCEPT_SETTINGS_PATH=settings_path, PYTHONPATH=os.getcwd())
    starter = textwrap.dedent("""
        from flowcept import Flowcept
        flowcept = Flowcept(workflow_name="distributed_process_example", start_persistence=True,
                            check_safe_stops=False)
        with open("workflow_id.txt", "w") as f:
            f.write(flowcept.current_workflow_id)
        flowcept.start()
    """)
    producer = textwrap.dedent("""
        import sys
        from flowcept import Flowcept, flowcept_task
        workflow_id = sys.argv[1]
        @flowcept_task
        def double(x):
            return 2 * x
        flowcept = Flowcept(workflow_id=workflow_id, start_persistence=False, check_safe_stops=False,
                            save_workflows=False)
        flowcept.start()
        for i in range(int(sys.argv[2]), int(sys.argv[2]) + 400):
            double(i)
        flowcept.stop()
    """)
    keeper_log = open(tmp_path / "keeper.log", "wb")  # noqa: SIM115 (closed in finally)
    keeper = subprocess.Popen([sys.executable, "-c", starter], cwd=tmp_path, env=env, start_new_session=True,
                              stdout=keeper_log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 30
        while not (tmp_path / "workflow_id.txt").exists() and time.time() < deadline:
            time.sleep(0.1)
        wf_id = (tmp_path / "workflow_id.txt").read_text()
        assert keeper.poll() is None, "the persistence process must keep running (check_safe_stops=False)"
        producers = [subprocess.run([sys.executable, "-c", producer, wf_id, str(start)], cwd=tmp_path, env=env,
                                    timeout=120, capture_output=True, text=True) for start in (0, 400)]
        for p in producers:
            assert p.returncode == 0, p.stderr
        deadline = time.time() + 30
        tasks: list = []
        while time.time() < deadline:
            tasks = Flowcept.db.task_query({"workflow_id": wf_id})
            if len(tasks) >= 800:
                break
            time.sleep(0.3)
    finally:
        # what a job scheduler sends at the end of the job (SIGINT may be ignored in non-interactive runs)
        os.killpg(keeper.pid, signal.SIGTERM)
        try:
            keeper.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(keeper.pid, signal.SIGKILL)
            keeper.wait(10)
        keeper_log.close()
    log = (tmp_path / "keeper.log").read_text(errors="replace")
    # it exits through the normal path (0, or 143 when the signal lands outside interpreter shutdown), not killed
    assert keeper.returncode in (0, 128 + signal.SIGTERM), f"the persistence process did not stop:\n{log[-3000:]}"
    assert sorted(t["used"]["x"] for t in tasks) == list(range(800))
    assert len({t["task_id"] for t in tasks}) == 800
    (wf,) = Flowcept.db.workflow_query({"workflow_id": wf_id})
    assert wf["name"] == "distributed_process_example"
