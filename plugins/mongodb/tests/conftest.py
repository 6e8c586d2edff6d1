"""Fixtures for the mongodb plugin's tests: a MongoDB-wire server, fresh databases, and state reset per test.

The server: NX-27017 (``pip install nx-27017``, see ../shared/services.md), started once per session on
127.0.0.1:27018 (a free port if 27018 is taken) with its data in a temporary folder, and stopped by its process id
at the end. FLOWCEPT_TEST_MONGODB_URI points the tests at an existing server instead (e.g. a real mongod). If no
server can be started the tests are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from flowcept_core.registry import reset_registry
from flowcept_core.settings import Settings, reset_settings
from flowcept_core.stores import close_stores

_START_WAIT_SECS = 30
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


def _answers(uri: str) -> str | None:
    """None when the server answers hello, else why not."""
    import pymongo

    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=1000)
    try:
        client.admin.command("hello")
        return None
    except Exception as e:
        return f"{type(e).__name__}: {str(e)[:200]}"
    finally:
        client.close()


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_taken(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def start_nx(data_dir: Path, port: int) -> tuple[subprocess.Popen | None, str]:
    """Start nx-27017 on port with its files in data_dir; (process, "") when it answers, else (None, why)."""
    exe = shutil.which("nx-27017") or str(Path(sys.executable).with_name("nx-27017"))
    if not Path(exe).exists():
        return None, "nx-27017 is not installed (pip install nx-27017)"
    data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        exe,
        "--data-dir",
        str(data_dir),
        "-p",
        str(port),
        "--log-file",
        str(data_dir / "nx.log"),
        "--pid-file",
        str(data_dir / "nx.pidfile"),
    ]
    out = open(data_dir / "stdout.log", "wb")
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    out.close()
    uri = f"mongodb://127.0.0.1:{port}/"
    deadline = time.monotonic() + _START_WAIT_SECS
    while (why := _answers(uri)) is not None:
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_process(proc)
            tail = (data_dir / "stdout.log").read_text(errors="replace")[-600:]
            return None, f"started {' '.join(cmd)} (pid {proc.pid}) but it did not answer: {why}; output: {tail}"
        time.sleep(0.2)
    return proc, ""


def stop_process(proc: subprocess.Popen) -> None:
    """Stop a server this module started: its own process group, by id."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoServer]:
    """The MongoDB-wire server of this test session (started here, stopped at session end)."""
    pytest.importorskip("pymongo", reason="pymongo is not installed: pip install -e plugins/mongodb")
    existing = os.environ.get("FLOWCEPT_TEST_MONGODB_URI")
    if existing:
        why = _answers(existing)
        if why:
            pytest.skip(f"FLOWCEPT_TEST_MONGODB_URI={existing!r} does not answer: {why}")
        yield MongoServer(existing)
        return
    port = _PREFERRED_PORT if not _port_taken(_PREFERRED_PORT) else free_port()
    proc, why = start_nx(tmp_path_factory.mktemp("nx27017"), port)
    if proc is None:
        pytest.skip(why)
    try:
        yield MongoServer(f"mongodb://127.0.0.1:{port}/")
    finally:
        stop_process(proc)


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
    from flowcept_mongodb.hooks import mongodb_factory

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
        proc, why = start_nx(tmp_path / f"nx{port}", port)
        if proc is None:
            pytest.skip(why)
        procs.append(proc)
        return f"mongodb://127.0.0.1:{port}/", lambda: stop_process(proc)

    yield spawn
    for proc in procs:
        stop_process(proc)
