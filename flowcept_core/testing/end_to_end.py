"""MQEndToEndSuite: an MQ backend used through the public API, as a pytest class to subclass.

Where MQBackendContract drives a backend directly, this suite goes the way a user does: a settings.yaml selecting
the backend, ``Flowcept`` + ``@flowcept_task`` producing, a ``BaseConsumer`` receiving in the same process, and the
seeds' distributed layout (two producer processes sharing a workflow_id, one group consumer process). Provide an
``mq_section`` fixture returning the ``mq:`` settings that reach a real broker (type, host, port and any extra keys);
each test adds a fresh channel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowcept_core.constants import CONTROL_TYPE, END_OF_STREAM, FINISHED, RUNNING

__all__ = ["MQEndToEndSuite"]

_CONSUMER = textwrap.dedent("""
    import json, sys, time
    from flowcept_core.constants import CONTROL_TYPE, END_OF_STREAM
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
            elif m.get("type") == CONTROL_TYPE and m.get("info") == END_OF_STREAM:
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
    for i in range(int(sys.argv[2])):
        double(i)
    flowcept.stop()
""")


def _is_eos(msg: dict) -> bool:
    return msg.get("type") == CONTROL_TYPE and msg.get("info") == END_OF_STREAM


class MQEndToEndSuite:
    """Subclass in a plugin's tests and define ``mq_section``; ``tasks`` / ``producer_tasks`` set the sizes."""

    tasks: int = 2000
    producer_tasks: int = 500

    @pytest.fixture
    def mq_section(self) -> dict:  # pragma: no cover - must be overridden
        raise NotImplementedError("define an mq_section fixture returning the mq: settings of a real broker")

    @pytest.fixture
    def settings_file(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mq_section: dict) -> Iterator[Path]:
        """A settings.yaml with mq_section on a fresh channel, active through FLOWCEPT_SETTINGS_PATH."""
        import yaml

        from flowcept_core.registry import reset_registry
        from flowcept_core.settings import reset_settings

        tree = {
            "mq": {**mq_section, "channel": f"e2e-{uuid.uuid4().hex[:12]}"},
            "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
            "telemetry_capture": {},
            "log": {"log_stream_level": "error", "log_file_level": "disable"},
        }
        path = tmp_path / "settings.yaml"
        path.write_text(yaml.safe_dump(tree), encoding="utf-8")
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("FLOWCEPT_SETTINGS_PATH", str(path))
        reset_settings()
        reset_registry()
        yield path
        reset_settings()
        reset_registry()

    def test_publishing_over_the_network_never_runs_with_the_collector_paused(
        self, settings_file: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import gc

        from flowcept import Flowcept, flowcept_task

        @flowcept_task
        def inc(x: int) -> int:
            return x + 1

        seen: list[bool] = []
        fc = Flowcept(start_persistence=False, check_safe_stops=False)
        fc.start()
        try:
            sink = fc._run.sink
            publish = sink.publish

            def recording_publish(messages: list) -> Any:
                seen.append(gc.isenabled())
                return publish(messages)

            monkeypatch.setattr(sink, "publish", recording_publish)  # the real publish, observed
            for i in range(3000):
                inc(i)
            fc._run.drain()
        finally:
            fc.stop()
        assert seen and all(seen), f"{seen.count(False)} of {len(seen)} publishes ran with the collector paused"

    def test_a_run_delivers_every_task_both_workflow_messages_and_a_counted_end_of_stream(
        self, settings_file: Path
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
                if _is_eos(msg_obj):
                    self.ended.set()
                    return False
                return True

        @flowcept_task
        def square(x: int) -> int:
            return x * x

        n = self.tasks
        consumer = Collector().start(daemon=True)
        with Flowcept(workflow_name="e2e") as fc:
            for i in range(n):
                square(i)
        assert consumer.ended.wait(60), f"no end_of_stream after {len(consumer.messages)} messages"
        consumer.stop_consumption()

        msgs = consumer.messages
        tasks = [m for m in msgs if m.get("type") == "task"]
        assert len(tasks) == n and len({t["task_id"] for t in tasks}) == n
        assert sorted(t["used"]["x"] for t in tasks) == list(range(n))
        assert all(t["generated"] == {"arg_0": t["used"]["x"] ** 2} for t in tasks)
        assert all(t["workflow_id"] == fc.current_workflow_id for t in tasks)
        workflows = [m for m in msgs if m.get("type") == "workflow"]
        assert [w.get("status") for w in workflows] == [RUNNING, FINISHED]
        assert {w["workflow_id"] for w in workflows} == {fc.current_workflow_id}
        marker = msgs[-1]
        assert _is_eos(marker) and sum(map(_is_eos, msgs)) == 1
        assert marker["workflow_id"] == fc.current_workflow_id
        # every message of this single producer came before its marker (tasks, workflow start/end, other control)
        assert marker["message_count"] == len(msgs) - 1 >= n + 2

    def test_two_producer_processes_and_a_group_consumer_process_share_one_workflow(
        self, settings_file: Path, tmp_path: Path
    ) -> None:
        env = {**os.environ, "FLOWCEPT_SETTINGS_PATH": str(settings_file)}
        workflow_id = str(uuid.uuid4())
        group = f"distributed-{uuid.uuid4().hex[:8]}"
        n = self.producer_tasks

        def start(*args: str) -> subprocess.Popen:
            return subprocess.Popen([sys.executable, "-c", *args], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)

        consumer = start(_CONSUMER, group, "2")
        producers: list[subprocess.Popen] = []
        try:
            ready = consumer.stdout.readline()  # type: ignore[union-attr]
            assert ready.strip() == "READY", f"consumer did not start: {ready!r} {consumer.stderr.read()}"  # type: ignore[union-attr]
            producers += [start(_PRODUCER, workflow_id, str(n)) for _ in range(2)]
            for p in producers:
                _, err = p.communicate(timeout=120)
                assert p.returncode == 0, err
            out, err = consumer.communicate(timeout=150)
            assert consumer.returncode == 0, err
        finally:
            for p in [consumer, *producers]:  # only what this test started
                if p.poll() is None:
                    p.kill()
                    p.wait(10)
        report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        assert len(report["eos"]) == 2 and len({e["producer_id"] for e in report["eos"]}) == 2
        assert all(e["workflow_id"] == workflow_id for e in report["eos"])
        # each marker counts what its producer published before it; together: everything else the group received
        assert sum(e["message_count"] for e in report["eos"]) == report["others"]
        assert len(report["tasks"]) == 2 * n
        assert set(report["tasks"].values()) == {workflow_id}
