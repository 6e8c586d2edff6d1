"""RabbitMQ under faults: separate producer and inserter processes on the pre-started server (which other tests
share, so it is never stopped here): outages are a cut link (tests/netfault.py), and a broker that lost its queues is
the group queue deleted during the cut."""

from __future__ import annotations

import os

import pytest

from tests.netfault import CuttableProxy
from tests.reliability import scenarios as sc

pika = pytest.importorskip("pika", reason="pika is not installed: pip install -e plugins/rabbitmq")

HOST = os.environ.get("FLOWCEPT_TEST_RABBITMQ_HOST", "127.0.0.1")
PORT = int(os.environ.get("FLOWCEPT_TEST_RABBITMQ_PORT", "5672"))


def _connect():
    params = pika.ConnectionParameters(host=HOST, port=PORT, socket_timeout=3, connection_attempts=1,
                                       credentials=pika.PlainCredentials("guest", "guest"))
    return pika.BlockingConnection(params)


@pytest.fixture(scope="module")
def rabbitmq():
    try:
        _connect().close()
    except Exception as e:
        pytest.skip(f"no RabbitMQ answers on {HOST}:{PORT} ({type(e).__name__}: {e}); see services.md")
    return HOST, PORT


@pytest.fixture
def proxy(rabbitmq):
    p = CuttableProxy(*rabbitmq)
    yield p
    p.close()


def _mq(port: int) -> dict:
    return {"type": "rabbitmq", "host": HOST, "port": port, "username": "guest", "password": "guest"}


def test_rabbitmq_normal_stop_stores_every_task_once(scenario, rabbitmq, n):
    sc.normal_stop(scenario(_mq(PORT)), n)


def test_rabbitmq_inserter_sigkill_and_restart_loses_nothing(scenario, rabbitmq, n):
    sc.inserter_killed_and_restarted(scenario(_mq(PORT)), n)


def test_rabbitmq_producer_sigterm_delivers_everything(scenario, rabbitmq, n):
    sc.producer_sigterm(scenario(_mq(PORT)), n)


def test_rabbitmq_producer_sigkill_loses_only_the_last_flush_window(scenario, rabbitmq, n):
    sc.producer_sigkill(scenario(_mq(PORT)), n, window=1.2)


def test_rabbitmq_four_processes_of_eight_threads_store_every_task_once(scenario, rabbitmq, n):
    sc.many_processes(scenario(_mq(PORT)), max(n // 4, 400))


def test_rabbitmq_broker_unreachable_while_keeping_its_data_loses_nothing(scenario, proxy, n):
    sc.broker_outage(scenario(_mq(proxy.port)), n, proxy.cut, proxy.restore, keeps_data=True)


@pytest.mark.parametrize("restart_inserter", [False, True], ids=["same-inserter", "new-inserter"])
def test_rabbitmq_queue_lost_in_an_outage_is_declared_again_and_everything_after_is_stored(
        scenario, proxy, n, restart_inserter):
    s = scenario(_mq(proxy.port))

    def lose_queue() -> None:
        proxy.cut()
        conn = _connect()
        try:
            conn.channel().queue_delete(queue=f"{s.tree['mq']['channel']}.flowcept_persistence")
        finally:
            conn.close()

    sc.broker_outage(s, n, lose_queue, proxy.restore, keeps_data=False, restart_inserter=restart_inserter)


def test_rabbitmq_store_down_ten_seconds_loses_nothing(scenario, rabbitmq, mongo_store, n):
    sc.store_outage(scenario(_mq(PORT), mongo_store.stores()), n, mongo_store.down, mongo_store.up)
