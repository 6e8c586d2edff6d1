"""Fixtures for the mongodb plugin's tests: a MongoDB-wire server, fresh databases, and state reset per test.

The server: NX-27017 (``pip install nx-27017``, see ../shared/services.md), started once per session on
127.0.0.1:27018 (a free port if 27018 is taken) with its data in a temporary folder, and stopped by its process id
at the end. FLOWCEPT_TEST_MONGODB_URI points the tests at an existing server instead (e.g. a real mongod). If no
server can be started the tests are skipped with the reason.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flowcept_mongodb.testserver import free_port, port_taken, server_answers, start_mongo_wire, stop_server

from flowcept_core.registry import reset_registry
from flowcept_core.settings import Settings, reset_settings
from flowcept_core.stores import close_stores

_PREFERRED_PORT = 27018


@dataclass(frozen=True)
class MongoServer:
    """Where the test server listens."""

    uri: str

    def settings(self, **mongodb: object) -> Settings:
        """Settings enabling the mongodb store on this server, with extra databases.mongodb.* keys."""
        return Settings({"databases": {"mongodb": {"enabled": True, "uri": self.uri, **mongodb}}})

    def client(self):  # noqa: ANN201 - pymongo.MongoClient
        import pymongo

        return pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=5000)


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoServer]:
    """The MongoDB-wire server of this test session (started here, stopped at session end)."""
    pytest.importorskip("pymongo", reason="pymongo is not installed: pip install -e plugins/mongodb")
    existing = os.environ.get("FLOWCEPT_TEST_MONGODB_URI")
    if existing:
        why = server_answers(existing)
        if why:
            pytest.skip(f"FLOWCEPT_TEST_MONGODB_URI={existing!r} does not answer: {why}")
        yield MongoServer(existing)
        return
    port = _PREFERRED_PORT if not port_taken(_PREFERRED_PORT) else free_port()
    proc, uri = start_mongo_wire(tmp_path_factory.mktemp("nx27017"), port)
    if proc is None:
        pytest.skip(uri)
    try:
        yield MongoServer(uri)
    finally:
        stop_server(proc)


@pytest.fixture
def db_name(mongo_server: MongoServer) -> Iterator[str]:
    """A fresh database name, dropped after the test."""
    name = f"flowcept_test_{uuid.uuid4().hex[:16]}"
    yield name
    client = mongo_server.client()
    try:
        client.drop_database(name)
    finally:
        client.close()


@pytest.fixture
def make_store(mongo_server: MongoServer, db_name: str) -> Iterator:
    """make_store(**databases.mongodb keys) -> a MongoDBStore on the fresh database; closed after the test."""
    from flowcept_mongodb.store import MongoDBStore as mongodb_factory

    stores = []

    def make(**mongodb: object):
        store = mongodb_factory(mongo_server.settings(db=db_name, **mongodb))
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture(autouse=True)
def _fresh_state(tmp_path, monkeypatch):
    """Fresh settings, plugin registry and open stores around each test, run inside tmp_path."""
    monkeypatch.chdir(tmp_path)
    reset_settings()
    reset_registry()
    close_stores()
    yield
    close_stores()
    reset_settings()
    reset_registry()


@pytest.fixture
def unused_port() -> int:
    """A TCP port nothing listens on (for unreachable-server tests)."""
    return free_port()


@pytest.fixture
def spawn_server(tmp_path: Path) -> Iterator:
    """spawn_server() -> (uri, stop): a private NX-27017 server a test may stop; stopped at teardown anyway."""
    pytest.importorskip("pymongo", reason="pymongo is not installed: pip install -e plugins/mongodb")
    procs: list[subprocess.Popen] = []

    def spawn():
        port = free_port()
        proc, uri = start_mongo_wire(tmp_path / f"nx{port}", port)
        if proc is None:
            pytest.skip(uri)
        procs.append(proc)
        return uri, lambda: stop_server(proc)

    yield spawn
    for proc in procs:
        stop_server(proc)
