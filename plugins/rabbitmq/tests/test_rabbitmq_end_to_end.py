"""End to end through RabbitMQ: Flowcept producers -> the rabbitmq backend -> consumers, in one process and across
processes (a group consumer and two producers sharing one workflow_id, as in the distributed example)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import uuid

import pytest
import yaml

from flowcept_core.registry import reset_registry
from flowcept_core.settings import reset_settings


@pytest.fixture
def rabbitmq_settings_file(rabbitmq_server, tmp_path, monkeypatch):
    """A settings.yaml selecting the rabbitmq backend on a fresh channel; returns (path, channel)."""
    channel = f"e2e-{uuid.uuid4().hex[:10]}"
    tree = {
        "mq": {"type": "rabbitmq", "host": rabbitmq_server.host, "port": rabbitmq_server.port, "channel": channel},
        "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
        "telemetry_capture": {},
    }
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(tree))
    monkeypatch.setenv("FLOWCEPT_SETTINGS_PATH", str(path))
    reset_settings()
    reset_registry()
    yield path, channel
    reset_settings()
    reset_registry()


def test_consumer_receives_every_task_both_workflow_messages_and_a_counted_end_of_stream(rabbitmq_settings_file):
    from flowcept import Flowcept, flowcept_task
    from flowcept_core.consumers.base import BaseConsumer

    class Collector(BaseConsumer):
        def __init__(self) -> None:
            super().__init__()
            self.messages: list[dict] = []
            self.done = threading.Event()

        def message_handler(self, msg_obj: dict) -> bool:
            self.messages.append(msg_obj)
            if msg_obj.get("type") == "flowcept_control" and msg_obj.get("info") == "end_of_stream":
                self.done.set()
                return False
            return True

    @flowcept_task
    def square(x):
        return x * x

    consumer = Collector().start(daemon=True)
    try:
        with Flowcept(workflow_name="rabbitmq-e2e") as fc:
            for i in range(2000):
                square(i)
        assert consumer.done.wait(60), f"no end_of_stream after {len(consumer.messages)} messages"
    finally:
        consumer.stop_consumption()
        consumer._mq.close(5)

    msgs = consumer.messages
    tasks = [m for m in msgs if m.get("type") == "task"]
    workflows = [m for m in msgs if m.get("type") == "workflow"]
    marker = msgs[-1]
    assert len(tasks) == 2000 and len({t["task_id"] for t in tasks}) == 2000
    assert sorted(t["used"]["x"] for t in tasks) == list(range(2000))
    assert all(t["generated"] == {"arg_0": t["used"]["x"] ** 2} for t in tasks)
    assert all(t["workflow_id"] == fc.current_workflow_id for t in tasks)
    assert len(workflows) == 2 and {w["workflow_id"] for w in workflows} == {fc.current_workflow_id}
    assert marker["type"] == "flowcept_control" and marker["info"] == "end_of_stream"
    # every message before the marker came from this one producer (the core may add control messages of its own)
    assert marker["message_count"] == len(msgs) - 1 >= 2002


_CONSUMER = textwrap.dedent("""
    import json, sys, time
    from flowcept_core.mq import open_mq
    from flowcept_core.settings import get_settings

    group, producers = sys.argv[1], int(sys.argv[2])
    mq = open_mq(get_settings())
    sub = mq.subscribe(group=group)
    print("READY", flush=True)
    tasks, markers, others, deadline = {}, [], 0, time.monotonic() + 120
    while len(markers) < producers and time.monotonic() < deadline:
        for m in sub.receive(0.2):
            if not (m.get("type") == "flowcept_control" and m.get("info") == "end_of_stream"):
                others += 1
            if m.get("type") == "task":
                tasks[m["task_id"]] = m["workflow_id"]
            elif m.get("type") == "flowcept_control" and m.get("info") == "end_of_stream":
                markers.append(m)
        sub.ack()
    sub.close()
    mq.close(5)
    print(json.dumps({"tasks": tasks, "markers": markers, "others": others}), flush=True)
""")

_PRODUCER = textwrap.dedent("""
    import sys
    from flowcept import Flowcept, flowcept_task

    @flowcept_task
    def double(x):
        return 2 * x

    flowcept = Flowcept(workflow_id=sys.argv[1], start_persistence=False, check_safe_stops=False,
                        save_workflow=False)
    flowcept.start()
    for i in range(500):
        double(i)
    flowcept.stop()
""")


def test_group_consumer_process_gets_all_tasks_of_two_producer_processes_sharing_a_workflow_id(
    rabbitmq_settings_file, tmp_path
):
    path, _ = rabbitmq_settings_file
    env = {**os.environ, "FLOWCEPT_SETTINGS_PATH": str(path)}
    workflow_id = str(uuid.uuid4())
    group = f"keeper-{uuid.uuid4().hex[:6]}"
    consumer = subprocess.Popen(
        [sys.executable, "-c", _CONSUMER, group, "2"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert consumer.stdout.readline().strip() == "READY", consumer.stderr.read()
        producers = [
            subprocess.Popen(
                [sys.executable, "-c", _PRODUCER, workflow_id],
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
        assert consumer.returncode == 0, err
    finally:
        for p in (consumer, *locals().get("producers", [])):
            if p.poll() is None:
                p.kill()
    report = json.loads(out.strip().splitlines()[-1])
    assert len(report["markers"]) == 2
    assert len({m["producer_id"] for m in report["markers"]}) == 2
    # each marker counts what its producer sent before it: together, everything received but the two markers
    assert all(m["message_count"] >= 500 for m in report["markers"])
    assert sum(m["message_count"] for m in report["markers"]) == report["others"]
    assert len(report["tasks"]) == 1000
    assert set(report["tasks"].values()) == {workflow_id}
