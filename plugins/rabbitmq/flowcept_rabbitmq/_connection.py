"""Connecting to RabbitMQ: pika parameters built from the ``mq.*`` settings, and pika's errors turned into
flowcept_core.mq.MQConnectionError messages that name the settings keys (never the password).

Used by the backend (one connection for the publisher) and by every subscription (one connection each, because a
pika BlockingConnection is not thread-safe).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pika
import pika.exceptions as pex

from flowcept_core.plugin import MQConnectionError

__all__ = ["ConnectionConfig", "connect", "DEFAULT_PORT", "TIMEOUT_SECS"]

DEFAULT_PORT = 5672
# Bounds every step of opening a connection (TCP connect, AMQP handshake), so a wrong address fails fast.
TIMEOUT_SECS = 5.0
# A broker under a memory or disk alarm blocks publishers; past this a publish fails instead of hanging.
BLOCKED_TIMEOUT_SECS = 30.0


def _redact_uri(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class ConnectionConfig:
    """Where and how to connect, read once from settings when the backend is built."""

    host: str = "localhost"
    port: int = DEFAULT_PORT
    uri: str | None = None
    username: str = "guest"
    password: str = "guest"
    vhost: str = "/"

    @classmethod
    def from_settings(cls, settings: Any) -> ConnectionConfig:
        """Read mq.host, mq.port, mq.uri, mq.username, mq.password, mq.vhost (None settings: the defaults)."""

        def get(key: str, default: Any) -> Any:
            value = settings.get(f"mq.{key}") if settings is not None else None
            return default if value is None else value

        port = get("port", DEFAULT_PORT)
        try:
            port = int(port)
        except (TypeError, ValueError):
            raise MQConnectionError(f"mq.port={port!r} is not a port number; use an integer such as 5672") from None
        return cls(
            host=str(get("host", "localhost")),
            port=port,
            uri=get("uri", None) or None,
            username=str(get("username", "guest")),
            password=str(get("password", "guest")),
            vhost=str(get("vhost", "/")),
        )

    def where(self) -> str:
        """The settings that chose the broker, for error messages: ``mq.uri=...`` or ``mq.host=... mq.port=...``."""
        if self.uri:
            return f"mq.uri={_redact_uri(self.uri)!r}"
        return f"mq.host={self.host!r} mq.port={self.port}"

    def parameters(self) -> pika.connection.Parameters:
        """pika connection parameters with bounded timeouts (mq.uri wins over host/port/credentials)."""
        if self.uri:
            try:
                params: pika.connection.Parameters = pika.URLParameters(self.uri)
            except Exception as e:
                raise MQConnectionError(f"{self.where()} is not a valid amqp:// URI: {e}") from None
        else:
            params = pika.ConnectionParameters(
                host=self.host,
                port=self.port,
                virtual_host=self.vhost,
                credentials=pika.PlainCredentials(self.username, self.password),
            )
        params.socket_timeout = TIMEOUT_SECS
        params.stack_timeout = TIMEOUT_SECS
        params.blocked_connection_timeout = BLOCKED_TIMEOUT_SECS
        params.connection_attempts = 1
        return params

    def describe_failure(self, exc: BaseException) -> str:
        """A message naming the settings keys behind a failed connection attempt."""
        if isinstance(exc, pex.ProbableAuthenticationError | pex.AuthenticationError):
            who = "the user in mq.uri" if self.uri else f"mq.username={self.username!r} with mq.password (hidden)"
            return f"{self.where()}: the broker refused the login of {who}; check mq.username and mq.password"
        if isinstance(exc, pex.ProbableAccessDeniedError):
            vhost = "the vhost in mq.uri" if self.uri else f"mq.vhost={self.vhost!r}"
            return f"{self.where()}: access to {vhost} was denied (missing vhost or no permission): {exc}"
        if isinstance(exc, socket.gaierror):
            return f"{self.where()}: unknown host ({exc.strerror or exc})"
        reason = str(exc) or repr(exc)
        if "ConnectionRefusedError" in reason:
            reason = "connection refused"
        elif "handshake" in reason.lower():
            reason = f"no AMQP handshake within {TIMEOUT_SECS:g} s (is a RabbitMQ broker listening on that port?)"
        elif "timeout" in reason.lower() or isinstance(exc, TimeoutError):
            reason = f"no answer within {TIMEOUT_SECS:g} s ({type(exc).__name__})"
        else:
            reason = f"{type(exc).__name__}: {reason}"
        secret = urlsplit(self.uri).password if self.uri else self.password
        if secret and secret in reason:  # never echo the password, whatever the library put in its message
            reason = reason.replace(secret, "***")
        return f"{self.where()}: cannot connect to RabbitMQ: {reason}"


def connect(config: ConnectionConfig) -> pika.BlockingConnection:
    """Open a new BlockingConnection, or raise MQConnectionError naming the settings involved (within ~5 s).

    Every failure becomes MQConnectionError with the password masked: pika's own exceptions (a handshake timeout is
    not an AMQPError) may print the connection parameters.
    """
    try:
        return pika.BlockingConnection(config.parameters())
    except MQConnectionError:
        raise
    except Exception as e:
        raise MQConnectionError(config.describe_failure(e)) from None
