"""A broker outage in the middle of a run: messages go to the disk spill and arrive, in order, once it is back.

Uses the real RabbitMQ (pre-started on 5672) behind a proxy whose link the test cuts; the consumer reads the broker
directly. Skips when the rabbitmq plugin or the broker is not available.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid

import pytest

from flowcept import Flowcept, flowcept_task
from tests._util import use_settings
from tests.netfault import CuttableProxy

pytest.importorskip("flowcept_rabbitmq", reason="the rabbitmq plugin is not installed")


def _broker_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
        return True
    except OSError:
        return False


@pytest.fixture
def proxy():
    if not _broker_up():
        pytest.skip("RabbitMQ is not reachable on 127.0.0.1:5672")
    p = CuttableProxy("127.0.0.1", 5672)
    yield p
    p.close()


@flowcept_task
def step(i):
    return i


def test_messages_published_during_an_outage_are_spilled_and_delivered_in_order(tmp_path, monkeypatch, proxy):
    channel = f"spill-{uuid.uuid4().hex[:8]}"
    spill_dir = tmp_path / "spill"
    use_settings(tmp_path, monkeypatch, {
        "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
        "mq": {"type": "rabbitmq", "host": "127.0.0.1", "port": proxy.port, "channel": channel, "buffer_size": 10,
               "insertion_buffer_time_secs": 0.1, "spill_dir": str(spill_dir), "stop_timeout_secs": 20}})
    from flowcept_core.registry import get_registry
    from flowcept_core.settings import get_settings, load_settings

    direct = load_settings(get_settings().source, overrides={"mq.port": 5672})
    consumer_mq = get_registry().resolve("mq_backend", "rabbitmq").factory(direct, channel)
    consumer_mq.ensure_group("watch")
    sub = consumer_mq.subscribe(group="watch")
    got: list[dict] = []
    done = threading.Event()

    def consume():
        while not done.is_set():
            got.extend(sub.receive(0.2))
            sub.ack()
            if any(m.get("info") == "end_of_stream" for m in got):
                done.set()

    t = threading.Thread(target=consume, daemon=True)
    t.start()
    with Flowcept(save_workflow=False) as fc:
        for i in range(50):
            step(i)
        deadline = time.time() + 10
        # received AND confirmed (50 tasks + the start-of-stream marker): RabbitMQ may route a persistent batch
        # before its publisher confirm reaches the producer, and a batch cut off before its confirm is spilled and
        # sent again (at-least-once on the MQ; the store keeps one document per task_id)
        while time.time() < deadline and (len([m for m in got if m.get("type") == "task"]) < 50
                                           or fc._run.published < 51):
            time.sleep(0.05)
        proxy.cut()
        for i in range(50, 100):
            step(i)
        deadline = time.time() + 10
        while time.time() < deadline and fc._run.spill.empty:
            time.sleep(0.05)
        assert not fc._run.spill.empty, "the outage did not reach the spill"
        assert os.path.exists(fc._run.spill.path)
        proxy.restore()
        for i in range(100, 150):
            step(i)
    assert done.wait(30), "end_of_stream never arrived"
    t.join(5)
    sub.close()
    consumer_mq.close(5)
    order = [m["used"]["i"] for m in got if m.get("type") == "task"]
    assert order == list(range(150))
    assert not os.path.exists(fc._run.spill.path)  # delivered, then removed
