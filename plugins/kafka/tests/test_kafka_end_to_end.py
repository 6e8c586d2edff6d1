"""End to end through Flowcept with mq.type kafka: settings.yaml -> registry -> capture -> Kafka -> consumers."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import uuid

import pytest
import yaml

from flowcept_core.registry import reset_registry
from flowcept_core.settings import reset_settings


@pytest.fixture
def kafka_flowcept_settings(tmp_path, monkeypatch, kafka_server):
    """Writes settings.yaml selecting the kafka MQ on a fresh channel, points FLOWCEPT_SETTINGS_PATH at it."""
    host, port = kafka_server.rsplit(":", 1)
    channel = f"e2e-{uuid.uuid4().hex[:12]}"
    tree = {
        "mq": {"type": "kafka", "host": host, "port": int(port), "channel": channel},
        "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
        "telemetry_capture": {},
        "log": {"log_stream_level": "error", "log_file_level": "disable"},
    }
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(tree))
    monkeypatch.setenv("FLOWCEPT_SETTINGS_PATH", str(path))
    monkeypatch.chdir(tmp_path)
    reset_settings()
    reset_registry()
    yield channel
    reset_settings()
    reset_registry()


def _is_eos(msg: dict) -> bool:
    return msg.get("type") == "flowcept_control" and msg.get("info") == "end_of_stream"


def test_flowcept_run_delivers_every_task_workflow_message_and_end_of_stream_over_kafka(kafka_flowcept_settings):
    from flowcept import Flowcept, flowcept_task
    from flowcept_core.consumers.base import BaseConsumer

    class Collector(BaseConsumer):
        def __init__(self):
            super().__init__()
            self.msgs: list[dict] = []

        def message_handler(self, msg_obj: dict) -> bool:
            self.msgs.append(msg_obj)
            return not _is_eos(msg_obj)

    @flowcept_task
    def add_one(x):
        return x + 1

    consumer = Collector().start(daemon=True)
    with Flowcept(workflow_name="kafka-e2e") as fc:
        for i in range(2000):
            add_one(i)
    deadline = time.monotonic() + 60
    while consumer.is_running and time.monotonic() < deadline:
        time.sleep(0.1)
    consumer.stop_consumption()
    msgs = consumer.msgs
    tasks = [m for m in msgs if m.get("type") == "task"]
    assert sorted(t["used"]["x"] for t in tasks) == list(range(2000))
    assert len({t["task_id"] for t in tasks}) == 2000
    assert all(t["workflow_id"] == fc.current_workflow_id for t in tasks)
    workflows = [m for m in msgs if m.get("type") == "workflow"]
    assert [w.get("status") for w in workflows] == ["RUNNING", "FINISHED"]
    eos = [m for m in msgs if _is_eos(m)]
    assert len(eos) == 1 and msgs[-1] is eos[0]
    assert eos[0]["message_count"] == len(msgs) - 1
    assert eos[0]["workflow_id"] == fc.current_workflow_id


_CONSUMER = textwrap.dedent("""
    import json, sys, time
    from flowcept_core.mq import open_mq
    from flowcept_core.settings import get_settings

    group, producers = sys.argv[1], int(sys.argv[2])
    mq = open_mq(get_settings())
    sub = mq.subscribe(group=group)
    print("READY", flush=True)
    tasks, eos, others = {}, [], 0
    deadline = time.monotonic() + 120
    while len(eos) < producers and time.monotonic() < deadline:
        for m in sub.receive(0.5):
            if m.get("type") == "task":
                tasks[m["task_id"]] = m.get("workflow_id")
            elif m.get("type") == "flowcept_control" and m.get("info") == "end_of_stream":
                eos.append(m)
                continue
            others += 1
        sub.ack()
    sub.close()
    mq.close(5)
    print(json.dumps({"tasks": tasks, "eos": eos, "others": others}), flush=True)
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


def test_two_producer_processes_and_a_group_consumer_process_share_one_workflow(kafka_flowcept_settings, tmp_path):
    workflow_id = str(uuid.uuid4())
    group = f"distributed-{uuid.uuid4().hex[:8]}"
    consumer = subprocess.Popen(
        [sys.executable, "-c", _CONSUMER, group, "2"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    producers: list[subprocess.Popen] = []
    try:
        assert consumer.stdout.readline().strip() == "READY", consumer.stderr.read()
        producers += [
            subprocess.Popen(
                [sys.executable, "-c", _PRODUCER, workflow_id],
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
        for p in [consumer, *producers]:  # only what this test started
            if p.poll() is None:
                p.kill()
                p.wait(10)
    report = json.loads(out.strip().splitlines()[-1])
    assert len(report["eos"]) == 2
    assert len({e["producer_id"] for e in report["eos"]}) == 2
    assert all(e["workflow_id"] == workflow_id for e in report["eos"])
    # each marker counts what its producer published before it; together: everything else the group received
    assert sum(e["message_count"] for e in report["eos"]) == report["others"]
    assert len(report["tasks"]) == 1000
    assert set(report["tasks"].values()) == {workflow_id}
