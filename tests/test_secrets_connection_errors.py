"""A backend that cannot connect fails Flowcept.start() with our own error class, naming the settings key, with the
password masked in the message and in the whole traceback (no library exception chained): a refused port, a port
that accepts but never answers the protocol (RabbitMQ's handshake timeout used to leak pika's exception), and a
wrong password against the real servers."""

from __future__ import annotations

import socket
import threading
import traceback
from collections.abc import Iterator
from typing import Any

import pytest

from flowcept import Flowcept
from flowcept_core.mq import MQConnectionError
from flowcept_core.stores import StoreError
from tests._util import use_settings

PASSWORD = "s3cr3t-Pw-77"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for conn in held:
        conn.close()


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _mq(kind: str, scheme: str, path: str) -> Any:
    return lambda port: {"mq": {"type": kind, "uri": f"{scheme}://alice:{PASSWORD}@127.0.0.1:{port}{path}"}}


def _mongo(port: int) -> dict:
    uri = f"mongodb://alice:{PASSWORD}@127.0.0.1:{port}/"
    return {"databases": {"lmdb": {"enabled": False}, "mongodb": {"enabled": True, "uri": uri}}}


# name -> (plugin module, settings for a port, error class, settings key named in the message)
BACKENDS = {
    "redis": ("flowcept_redis", _mq("redis", "redis", "/0"), MQConnectionError, "mq.uri"),
    "kafka": ("flowcept_kafka", _mq("kafka", "kafka", ""), MQConnectionError, "mq.uri"),
    "rabbitmq": ("flowcept_rabbitmq", _mq("rabbitmq", "amqp", "/"), MQConnectionError, "mq.uri"),
    "mongodb": ("flowcept_mongodb", _mongo, StoreError, "databases.mongodb.uri"),
}


def _start_fails(tmp_path: Any, monkeypatch: Any, tree: dict, error: type, key: str) -> BaseException:
    tree["project"] = {"db_flush_mode": "online", "dump_buffer": {"enabled": False}}
    use_settings(tmp_path, monkeypatch, tree)
    with pytest.raises(error) as info:
        Flowcept().start()
    exc = info.value
    assert type(exc).__module__.startswith("flowcept"), type(exc)
    text = "".join(traceback.format_exception(exc))
    assert PASSWORD not in text
    assert key in str(exc)
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__), \
        "no library exception (with its parameters) chained"
    return exc


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("where", ["refused", "silent"])
def test_unreachable_backend_raises_our_error_with_the_password_masked(tmp_path, monkeypatch, silent_port, backend,
                                                                       where):
    module, tree, error, key = BACKENDS[backend]
    pytest.importorskip(module, reason=f"the {backend} plugin is not installed")
    port = silent_port if where == "silent" else _free_port()
    exc = _start_fails(tmp_path, monkeypatch, tree(port), error, key)
    assert "alice:***@" in str(exc) or "***@127.0.0.1" in str(exc)
    if backend == "rabbitmq" and where == "silent":
        assert "handshake" in str(exc)


def test_wrong_redis_password_raises_our_error_with_the_password_masked(tmp_path, monkeypatch):
    pytest.importorskip("flowcept_redis", reason="the redis plugin is not installed")
    if not _answers(6379):
        pytest.skip("no Redis on 127.0.0.1:6379 (see /work/shared/services.md)")
    exc = _start_fails(tmp_path, monkeypatch, BACKENDS["redis"][1](6379), MQConnectionError, "mq.uri")
    assert "credentials" in str(exc) and "alice:***@" in str(exc)


def test_wrong_rabbitmq_password_raises_our_error_with_the_password_masked(tmp_path, monkeypatch):
    pytest.importorskip("flowcept_rabbitmq", reason="the rabbitmq plugin is not installed")
    if not _answers(5672):
        pytest.skip("no RabbitMQ on 127.0.0.1:5672 (see /work/shared/services.md)")
    tree = {"mq": {"type": "rabbitmq", "host": "127.0.0.1", "port": 5672, "username": "guest", "password": PASSWORD}}
    exc = _start_fails(tmp_path, monkeypatch, tree, MQConnectionError, "mq.password")
    assert "refused the login" in str(exc)
