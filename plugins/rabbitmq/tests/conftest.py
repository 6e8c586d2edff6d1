"""Fixtures for the rabbitmq plugin's tests: the real RabbitMQ server, and settings/registry reset around each test.

The server: the one pre-started on 127.0.0.1:5672 (guest/guest) as ../shared/services.md describes (override with
FLOWCEPT_TEST_RABBITMQ_HOST / FLOWCEPT_TEST_RABBITMQ_PORT). If nothing answers there, the fixture starts
``rabbitmq-server`` itself and stops it (by its process id) at the end of the session; if that is impossible the
tests are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from flowcept_core.registry import reset_registry
from flowcept_core.settings import Settings, reset_settings

_START_WAIT_SECS = 90


@dataclass(frozen=True)
class RabbitMQServer:
    """Address and credentials of the broker the tests use."""

    host: str
    port: int
    username: str = "guest"
    password: str = "guest"

    def settings(self, **mq: object) -> Settings:
        """Settings selecting this broker, with extra mq.* keys."""
        base = {
            "type": "rabbitmq",
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "password": self.password,
        }
        return Settings({"mq": {**base, **mq}})


def _answers(server: RabbitMQServer) -> str | None:
    """None when an AMQP login succeeds, else why not."""
    import pika

    params = pika.ConnectionParameters(
        host=server.host,
        port=server.port,
        socket_timeout=3,
        stack_timeout=3,
        connection_attempts=1,
        credentials=pika.PlainCredentials(server.username, server.password),
    )
    try:
        pika.BlockingConnection(params).close()
        return None
    except Exception as e:
        return f"{type(e).__name__}: {e}"


@pytest.fixture(scope="session")
def rabbitmq_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQServer]:
    """The running RabbitMQ server (pre-started, or started here and stopped at session end)."""
    pytest.importorskip("pika", reason="pika is not installed: pip install -e plugins/rabbitmq")
    server = RabbitMQServer(
        os.environ.get("FLOWCEPT_TEST_RABBITMQ_HOST", "127.0.0.1"),
        int(os.environ.get("FLOWCEPT_TEST_RABBITMQ_PORT", "5672")),
    )
    why = _answers(server)
    if why is None:
        yield server
        return
    exe = shutil.which("rabbitmq-server")
    if exe is None:
        pytest.skip(
            f"no RabbitMQ answers on {server.host}:{server.port} ({why}) and rabbitmq-server is not "
            "installed (apt-get install -y rabbitmq-server)"
        )
    if server.host not in ("127.0.0.1", "localhost") or server.port != 5672:
        pytest.skip(
            f"no RabbitMQ answers on {server.host}:{server.port} ({why}); this fixture starts one only on "
            "127.0.0.1:5672"
        )
    log_path = tmp_path_factory.mktemp("rabbitmq") / "rabbitmq-server.log"
    log = open(log_path, "wb")  # kept open for the server's lifetime
    proc = subprocess.Popen([exe], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + _START_WAIT_SECS
    while (why := _answers(server)) is not None:
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            log.close()
            tail = log_path.read_text(errors="replace")[-800:]
            pytest.skip(
                f"started {exe} (pid {proc.pid}) but it did not accept AMQP logins on "
                f"{server.host}:{server.port} within {_START_WAIT_SECS} s ({why}); log tail: {tail}"
            )
        time.sleep(1)
    try:
        yield server
    finally:
        _stop(proc)
        log.close()


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server this fixture started: its own process group, by id."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(autouse=True)
def _fresh_state(tmp_path, monkeypatch):
    """Fresh settings and plugin registry around each test, run inside tmp_path (buffer files stay out of the repo)."""
    monkeypatch.chdir(tmp_path)
    reset_settings()
    reset_registry()
    yield
    reset_settings()
    reset_registry()
