"""Redis MQ under faults: producers and DocumentInserters are separate processes on this test's own redis-server."""

from __future__ import annotations

import shutil

import pytest

from tests.reliability import scenarios as sc
from tests.services import OwnRedis

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="redis-server is not on PATH (apt-get install -y redis-server)")


@pytest.fixture
def redis_server(tmp_path):
    """make(persist) -> a running own redis-server (stopped at teardown)."""
    made: list[OwnRedis] = []

    def make(persist: bool = False) -> OwnRedis:
        server = OwnRedis(tmp_path / f"redis{len(made)}", persist=persist)
        made.append(server)
        why = server.start()
        if why is not None:
            pytest.skip(f"own redis-server could not start: {why}")
        return server

    yield make
    for server in made:
        server.stop()


def _mq(server: OwnRedis) -> dict:
    return {"type": "redis", "host": "127.0.0.1", "port": server.port}


def test_redis_normal_stop_stores_every_task_once(scenario, redis_server, n):
    sc.normal_stop(scenario(_mq(redis_server())), n)


def test_redis_inserter_sigkill_and_restart_loses_nothing(scenario, redis_server, n):
    sc.inserter_killed_and_restarted(scenario(_mq(redis_server())), n)


def test_redis_producer_sigterm_delivers_everything(scenario, redis_server, n):
    sc.producer_sigterm(scenario(_mq(redis_server())), n)


def test_redis_producer_sigkill_loses_only_the_last_flush_window(scenario, redis_server, n):
    sc.producer_sigkill(scenario(_mq(redis_server())), n, window=1.2)


def test_redis_four_processes_of_eight_threads_store_every_task_once(scenario, redis_server, n):
    sc.many_processes(scenario(_mq(redis_server())), max(n // 4, 400))


def test_redis_crash_with_persistence_loses_nothing(scenario, redis_server, n):
    server = redis_server(persist=True)
    sc.broker_outage(scenario(_mq(server)), n, server.crash, server.restart, keeps_data=True)


def test_redis_crash_without_persistence_reports_the_loss_and_stores_everything_after(scenario, redis_server, n):
    server = redis_server(persist=False)
    out, lost, reported = sc.broker_outage(scenario(_mq(server)), n, server.crash, server.restart, keeps_data=False)
    assert lost > 0  # the paused inserter left a backlog that the server lost


def test_redis_crash_without_persistence_then_a_new_inserter_consumes_from_the_recreated_group(
        scenario, redis_server, n):
    server = redis_server(persist=False)
    sc.broker_outage(scenario(_mq(server)), n, server.crash, server.restart, keeps_data=False,
                     restart_inserter=True)


def test_redis_store_down_ten_seconds_loses_nothing(scenario, redis_server, mongo_store, n):
    s = scenario(_mq(redis_server()), mongo_store.stores())
    sc.store_outage(s, n, mongo_store.down, mongo_store.up)
