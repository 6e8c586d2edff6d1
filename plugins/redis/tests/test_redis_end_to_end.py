"""End to end through the public API with ``mq.type: redis``: Flowcept + decorated tasks -> Redis Stream ->
a BaseConsumer in this process, and producers in separate processes -> a group consumer process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowcept_core.registry import reset_registry
from flowcept_core.settings import reset_settings


def _write_settings(path: Path, server: tuple[str, int], channel: str) -> Path:
    path.write_text(
        "mq:\n"
        f"  type: redis\n  host: {server[0]}\n  port: {server[1]}\n  channel: {channel}\n"
        "project:\n  db_flush_mode: online\n  dump_buffer:\n    enabled: false\n"
        "telemetry_capture: {}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def redis_settings_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_server: tuple[str, int], channel: str
) -> Iterator[Path]:
    """A settings.yaml selecting the redis MQ on a fresh channel, active through FLOWCEPT_SETTINGS_PATH."""
    path = _write_settings(tmp_path / "settings.yaml", redis_server, channel)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLOWCEPT_SETTINGS_PATH", str(path))
    reset_settings()
    reset_registry()
    yield path
    reset_settings()
    reset_registry()


def test_flowcept_with_redis_delivers_every_task_workflow_message_and_end_of_stream(
    redis_settings_file: Path,
) -> None:
    from flowcept import Flowcept, flowcept_task
    from flowcept.flowceptor.consumers.base_consumer import BaseConsumer

    class Collector(BaseConsumer):
        def __init__(self) -> None:
            super().__init__()
            self.messages: list[dict] = []
            self.ended = threading.Event()

        def message_handler(self, msg_obj: dict) -> bool:
            self.messages.append(msg_obj)
            if msg_obj.get("type") == "flowcept_control" and msg_obj.get("info") == "end_of_stream":
                self.ended.set()
                return False
            return True

    @flowcept_task
    def square(x: int) -> int:
        return x * x

    consumer = Collector().start(daemon=True)
    with Flowcept(workflow_name="redis_e2e") as fc:
        for i in range(2000):
            square(i)
    assert consumer.ended.wait(30), f"no end_of_stream after {len(consumer.messages)} messages"
    consumer.stop_consumption()

    msgs = consumer.messages
    tasks = [m for m in msgs if m.get("type") == "task"]
    workflows = [m for m in msgs if m.get("type") == "workflow"]
    marker = msgs[-1]
    assert len(tasks) == 2000 and len({t["task_id"] for t in tasks}) == 2000
    assert sorted(t["used"]["x"] for t in tasks) == list(range(2000))
    assert all(t["workflow_id"] == fc.current_workflow_id for t in tasks)
    assert [w.get("status") for w in workflows] == ["RUNNING", "FINISHED"]
    assert {w["workflow_id"] for w in workflows} == {fc.current_workflow_id}
    assert marker["type"] == "flowcept_control" and marker["info"] == "end_of_stream"
    # every message of this single producer came before its marker (tasks, workflow start/end, other control)
    assert marker["message_count"] == len(msgs) - 1 >= 2002


_CONSUMER = r"""
import json, sys, time
from flowcept_core.mq import open_mq
from flowcept_core.settings import get_settings
group, producers = sys.argv[1], int(sys.argv[2])
mq = open_mq(get_settings())
sub = mq.subscribe(group=group)
print("READY", flush=True)
seen, markers, tasks = {}, {}, []
deadline = time.monotonic() + 120
while len(markers) < producers and time.monotonic() < deadline:
    for m in sub.receive(0.5):
        # producer_id is "<host>-<pid>-<hex>"; tasks carry their producer's pid in used
        pid = m["producer_id"].rsplit("-", 2)[1] if "producer_id" in m else str((m.get("used") or {}).get("pid"))
        if m.get("type") == "flowcept_control" and m.get("info") == "end_of_stream":
            markers[pid] = {"message_count": m["message_count"], "seen_before": seen.get(pid, 0)}
            continue
        seen[pid] = seen.get(pid, 0) + 1
        if m.get("type") == "task":
            tasks.append([m["task_id"], m["workflow_id"]])
    sub.ack()
sub.close()
mq.close(5)
print(json.dumps({"markers": markers, "seen": seen, "tasks": tasks}), flush=True)
"""

_PRODUCER = r"""
import os, sys
from flowcept import Flowcept, flowcept_task

@flowcept_task
def double(x, pid):
    return 2 * x

fc = Flowcept(workflow_id=sys.argv[1], start_persistence=False, check_safe_stops=False, save_workflow=False)
fc.start()
pid = os.getpid()
for i in range(int(sys.argv[2])):
    double(i, pid)
fc.stop()
"""


def test_two_producer_processes_and_a_group_consumer_process_share_one_workflow(
    redis_settings_file: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "FLOWCEPT_SETTINGS_PATH": str(redis_settings_file)}
    group = f"persistence-{uuid.uuid4().hex[:8]}"
    workflow_id = str(uuid.uuid4())
    consumer = subprocess.Popen(
        [sys.executable, "-c", _CONSUMER, group, "2"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = consumer.stdout.readline()
        assert ready.strip() == "READY", f"consumer did not start: {ready!r} {consumer.stderr.read()}"
        producers = [
            subprocess.Popen(
                [sys.executable, "-c", _PRODUCER, workflow_id, "500"],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        for p in producers:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
        out, err = consumer.communicate(timeout=150)
    finally:
        if consumer.poll() is None:
            consumer.kill()
    assert consumer.returncode == 0, err
    report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    tasks = report["tasks"]
    assert len(tasks) == 1000
    assert len({task_id for task_id, _ in tasks}) == 1000
    assert {wf for _, wf in tasks} == {workflow_id}
    assert len(report["markers"]) == 2
    for pid, marker in report["markers"].items():
        assert marker["message_count"] == marker["seen_before"] >= 500, (pid, marker)
    assert sorted(report["seen"]) == sorted(report["markers"]), "messages from an unknown producer"
