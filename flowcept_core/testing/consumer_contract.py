"""ConsumerContract: what a consumer registered through ``flowcept_consumers`` must do, as a pytest class.

Set ``consumer_name`` (the name in ``plugins.consumers``) and write ``received(consumer)``: the task ids the consumer
saw (from whatever it records). The suite starts it the way Flowcept does, runs a workflow over the in-process MQ and
checks that every task arrived and that stop_consumption() returns.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import pytest
import yaml

__all__ = ["ConsumerContract"]


class ConsumerContract:
    consumer_name: ClassVar[str] = ""

    def received(self, consumer: Any) -> set[str]:
        """Task ids the consumer has handled so far."""
        raise NotImplementedError("subclasses say how to read what the consumer received")

    @pytest.fixture
    def consumer_settings(self, tmp_path: Any, monkeypatch: Any) -> Any:
        from flowcept_core.registry import reset_registry
        from flowcept_core.settings import get_settings, reset_settings

        monkeypatch.chdir(tmp_path)
        path = tmp_path / "settings.yaml"
        path.write_text(yaml.safe_dump({
            "log": {"log_stream_level": "error", "log_file_level": "disable"},
            "mq": {"type": "memory", "channel": f"consumer-contract-{self.consumer_name}",
                   "insertion_buffer_time_secs": 0.05},
            "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
            "databases": {"lmdb": {"enabled": False}}}))
        monkeypatch.setenv("FLOWCEPT_SETTINGS_PATH", str(path))
        reset_settings()
        reset_registry()
        yield get_settings()
        reset_settings()
        reset_registry()

    def test_consumer_receives_every_task_of_a_run_and_stops(self, consumer_settings: Any) -> None:
        from flowcept import Flowcept, flowcept_task
        from flowcept_core.registry import get_registry

        consumer = get_registry().resolve("consumer", self.consumer_name).factory(consumer_settings)
        consumer.start(daemon=True)

        @flowcept_task
        def step(x: int) -> int:
            return x + 1

        try:
            with Flowcept(workflow_name="consumer-contract"):
                for i in range(5):
                    step(i)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len(self.received(consumer)) < 5:
                time.sleep(0.05)
        finally:
            t0 = time.monotonic()
            consumer.stop_consumption()
            assert time.monotonic() - t0 < 30
        assert len(self.received(consumer)) >= 5
