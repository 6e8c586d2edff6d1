"""Probes for the servers plugin tests use (no client library needed)."""

from __future__ import annotations

import socket

__all__ = ["redis_answers"]


def redis_answers(host: str = "127.0.0.1", port: int = 6379, timeout: float = 1.0) -> bool:
    """True when a Redis server at host:port replies +PONG to a raw RESP PING; tests skip on False."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False
