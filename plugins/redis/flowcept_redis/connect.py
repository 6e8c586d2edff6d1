"""Connection settings of the redis backend, building verified clients, and turning client errors into MQ errors.

Every client is built with bounded connect/read timeouts and no hidden client-side retries, so an unreachable
server fails within seconds and the backend decides itself what to retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flowcept_core.plugin import MQConnectionError, MQError

__all__ = ["RedisConnectionInfo", "CONNECT_TIMEOUT_SECS", "READ_TIMEOUT_SECS", "mask_uri", "client_error"]

CONNECT_TIMEOUT_SECS = 5.0
READ_TIMEOUT_SECS = 5.0


def mask_uri(uri: str) -> str:
    """uri with its password replaced by ``***`` (safe for messages and logs)."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class RedisConnectionInfo:
    """Where and how to connect, read from ``mq.*`` settings (``mq.uri`` wins over host/port when set)."""

    host: str = "localhost"
    port: int = 6379
    uri: str | None = None
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> RedisConnectionInfo:
        """Read mq.host, mq.port, mq.uri, mq.username, mq.password; settings None gives localhost:6379."""
        get = settings.get if settings is not None else (lambda key, default=None: default)
        port = get("mq.port", 6379)
        try:
            port = int(port)
        except (TypeError, ValueError):
            raise MQConnectionError(f"mq.port={port!r} is not a port number (an integer 1-65535)") from None
        return cls(
            host=str(get("mq.host", "localhost") or "localhost"),
            port=port,
            uri=get("mq.uri") or None,
            username=get("mq.username") or None,
            password=get("mq.password") or None,
        )

    def where(self) -> str:
        """The settings naming the server, for error messages (never the password)."""
        if self.uri:
            return f"mq.uri={mask_uri(self.uri)!r}"
        return f"mq.host={self.host!r} mq.port={self.port}"

    def credentials(self) -> str:
        """The settings naming the credentials, for error messages (the password is masked)."""
        if self.uri and urlsplit(self.uri).password is not None:
            return f"mq.uri={mask_uri(self.uri)!r} (credentials in the URI)"
        pw = "'***'" if self.password else "None"
        return f"mq.username={self.username!r} mq.password={pw}"

    def client(self, read_timeout: float = READ_TIMEOUT_SECS, on_connect: Any = None) -> Any:
        """A new redis.Redis with its own connection pool (bytes responses, no client retries); not yet connected.

        read_timeout bounds every reply wait; blocking reads must block for less than it.
        """
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        opts: dict[str, Any] = {
            "socket_connect_timeout": CONNECT_TIMEOUT_SECS,
            "socket_timeout": read_timeout,
            "socket_keepalive": True,
            "retry": Retry(NoBackoff(), 0),
            "decode_responses": False,
        }
        if on_connect is not None:  # called with each new connection (redis-py's redis_connect_func)
            opts["redis_connect_func"] = on_connect
        if self.uri:
            # credentials given separately fill in what the URI leaves out
            if self.username and urlsplit(self.uri).username is None:
                opts["username"] = self.username
            if self.password and urlsplit(self.uri).password is None:
                opts["password"] = self.password
            return redis.Redis.from_url(self.uri, **opts)
        return redis.Redis(host=self.host, port=self.port, username=self.username, password=self.password, **opts)

    def connect(self, read_timeout: float = READ_TIMEOUT_SECS, on_connect: Any = None) -> Any:
        """A client whose server answered PING; MQConnectionError naming the settings when it does not."""
        try:
            client = self.client(read_timeout, on_connect)
        except ValueError as e:  # a malformed mq.uri
            raise MQConnectionError(
                f"{self.where()}: not a redis URI ({e}); expected redis://[user:pass@]host:port/db"
            ) from None
        try:
            client.ping()
        except Exception as e:
            client.close()
            raise client_error(e, self, "connecting") from None
        return client


def client_error(exc: BaseException, info: RedisConnectionInfo, doing: str) -> MQError:
    """The MQ error for a redis-py exception raised while doing something (connecting, publishing, ...)."""
    import redis.exceptions as rx

    text = str(exc) or type(exc).__name__
    low = text.lower()
    auth = isinstance(exc, rx.AuthenticationError | rx.AuthenticationWrongNumberOfArgsError) or any(
        word in low for word in ("wrongpass", "noauth", "invalid username-password", "auth <password>", "auth failed")
    )
    if auth:
        return MQConnectionError(
            f"{info.where()} {info.credentials()}: the server refused the credentials while "
            f"{doing} ({text}); check mq.username / mq.password (or the user:pass in mq.uri)"
        )
    if isinstance(exc, rx.TimeoutError):
        return MQConnectionError(f"{info.where()}: no answer within {CONNECT_TIMEOUT_SECS:g} s while {doing} ({text})")
    if isinstance(exc, rx.ConnectionError | OSError):
        reason = "connection refused" if "refused" in low else text
        return MQConnectionError(f"{info.where()}: {reason} while {doing}; is redis-server running there?")
    return MQError(f"{info.where()}: the server refused a command while {doing}: {type(exc).__name__}: {text}")
