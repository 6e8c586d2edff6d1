"""Shared fixtures: every test starts and ends with fresh process state, inside its own tmp_path."""

from __future__ import annotations

import pytest

from flowcept_core.runtime import reset_runtime
from flowcept_core.testing.defaults import builtin_defaults
from flowcept_core.testing.services import redis_answers


@pytest.fixture(autouse=True)
def _fresh_state(tmp_path, monkeypatch):
    """Reset the process state (flowcept_core.runtime: settings, registry, open stores, in-process broker) around
    each test; run it in tmp_path so buffer files stay out of the repository."""
    monkeypatch.chdir(tmp_path)
    reset_runtime()
    yield
    reset_runtime()


@pytest.fixture(scope="module")
def mongo_uri(tmp_path_factory):
    """A private MongoDB-wire server (NX-27017) for the module's tests; skips them, saying why, when the mongodb
    plugin is not installed or the server cannot start."""
    pytest.importorskip("flowcept_mongodb", reason="the mongodb plugin is not installed")
    from tests.services import start_mongo_wire, stop_server

    proc, uri = start_mongo_wire(tmp_path_factory.mktemp("nx"))
    if proc is None:
        pytest.skip(f"MongoDB-wire server could not start: {uri}")
    yield uri
    stop_server(proc)


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory):
    """The port of a Redis for the module's tests: the pre-started one on 6379 when it answers PING, else a private
    redis-server (stopped after the module); skips them, saying why, when the redis plugin is missing or neither."""
    pytest.importorskip("flowcept_redis", reason="the redis plugin is not installed")
    if redis_answers("127.0.0.1", 6379):
        yield 6379
        return
    from tests.services import OwnRedis

    server = OwnRedis(tmp_path_factory.mktemp("redis"), persist=False)
    why = server.start()
    if why is not None:
        pytest.skip(f"no Redis on 6379 and redis-server could not start: {why}")
    yield server.port
    server.stop()


@pytest.fixture
def defaults(tmp_path, monkeypatch):
    """The built-in defaults (in-process MQ, LMDB): no settings file, no environment overrides."""
    with builtin_defaults(tmp_path, monkeypatch):
        yield


@pytest.fixture
def keep_every_run(monkeypatch):
    """Offline, runs of one template shorter than replay._MIN_RUN take the general path; with this, every run of
    records is kept as it is (tests of the kept-records path whose calls mix functions)."""
    from flowcept_core import replay

    monkeypatch.setattr(replay, "_MIN_RUN", 1)
