"""Fixtures for the redis plugin tests: a real Redis server, and settings pointing at it.

The server is the pre-started one on 127.0.0.1:6379 when it answers PING (see /work/shared/services.md), else a
redis-server this session starts on 127.0.0.1:6390 (and stops by PID at the end). Without either, tests skip and
say why.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flowcept_core.settings import Settings
from flowcept_core.testing.services import redis_answers

HOST = "127.0.0.1"
PRESTARTED_PORT = 6379
OWN_PORT = 6390


def _start_own_server(workdir: Path) -> int:
    """Start redis-server on OWN_PORT (daemonized, no persistence); return its PID. pytest.skip if impossible."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip(
            f"no Redis: nothing answers PING on {HOST}:{PRESTARTED_PORT} and redis-server is not on PATH "
            "(install it: apt-get update && apt-get install -y redis-server)"
        )
    pidfile = workdir / "redis.pid"
    cmd = [
        exe,
        "--daemonize",
        "yes",
        "--bind",
        HOST,
        "--port",
        str(OWN_PORT),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
        "--pidfile",
        str(pidfile),
        "--logfile",
        str(workdir / "redis.log"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        pytest.skip(f"no Redis: `{' '.join(cmd)}` exited {proc.returncode}: {proc.stderr.strip() or proc.stdout}")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if pidfile.exists() and redis_answers(HOST, OWN_PORT):
            return int(pidfile.read_text().strip())
        time.sleep(0.1)
    log = (workdir / "redis.log").read_text() if (workdir / "redis.log").exists() else "(no log)"
    pytest.skip(f"no Redis: redis-server on {HOST}:{OWN_PORT} did not answer PING within 15 s; log tail: {log[-500:]}")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """(host, port) of a running Redis server for the whole session."""
    if redis_answers(HOST, PRESTARTED_PORT):
        yield HOST, PRESTARTED_PORT
        return
    if redis_answers(HOST, OWN_PORT):  # started earlier by someone else: use it, but it is not ours to stop
        yield HOST, OWN_PORT
        return
    pid = _start_own_server(tmp_path_factory.mktemp("redis-server"))
    try:
        yield HOST, OWN_PORT
    finally:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


@pytest.fixture
def redis_settings(redis_server: tuple[str, int]) -> Callable[..., Settings]:
    """make(**mq) -> Settings whose mq section selects the redis backend on the test server (mq keys override)."""

    def make(**mq: object) -> Settings:
        return Settings({"mq": {"type": "redis", "host": redis_server[0], "port": redis_server[1], **mq}})

    return make


@pytest.fixture
def channel() -> str:
    """A fresh stream name, so tests never see each other's entries."""
    return f"test-redis-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def raw_client(redis_server: tuple[str, int]) -> Iterator[object]:
    """A plain redis-py client on the server, for injecting and inspecting entries directly."""
    import redis

    client = redis.Redis(host=redis_server[0], port=redis_server[1], socket_connect_timeout=5, socket_timeout=10)
    yield client
    client.close()


class _OwnRedis:
    """A redis-server of one test on a free port, started and stopped by PID (to simulate outages)."""

    def __init__(self, exe: str, workdir: Path):
        with socket.socket() as s:
            s.bind((HOST, 0))
            self.port = s.getsockname()[1]
        self.exe = exe
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.exe,
                "--bind",
                HOST,
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not redis_answers(HOST, self.port):
            if time.monotonic() > deadline:
                self.stop()
                pytest.skip(f"redis-server on {HOST}:{self.port} did not answer PING within 10 s")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def settings(self, **mq: object) -> Settings:
        return Settings({"mq": {"type": "redis", "host": HOST, "port": self.port, **mq}})

    def client(self) -> object:
        import redis

        return redis.Redis(host=HOST, port=self.port, socket_connect_timeout=5, socket_timeout=10)


@pytest.fixture
def start_redis(tmp_path: Path) -> Iterator[Callable[[], _OwnRedis]]:
    """start() -> a running private redis-server (stopped at teardown); skips when redis-server is missing."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not on PATH (apt-get install -y redis-server); needed to simulate outages")
    started: list[_OwnRedis] = []

    def start() -> _OwnRedis:
        server = _OwnRedis(exe, tmp_path)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()
