"""Turning flowcept settings into confluent-kafka client configurations, and checking that the broker answers.

Every client the backend builds (producer, fence producer, admin, one consumer per subscription) starts from
``KafkaConfig.common()``, so the address, credentials and timeouts are the same everywhere.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from flowcept_core.plugin import MQConnectionError

__all__ = ["KafkaConfig", "KafkaSettingsError", "check_broker", "LIBRDKAFKA_LOGGER"]

# librdkafka's own log lines (connection retries, ...) go to this logger. A library must not print by default, so it
# gets a NullHandler; what matters to a user surfaces as exceptions and flowcept log lines instead.
LIBRDKAFKA_LOGGER = logging.getLogger("flowcept_kafka.librdkafka")
LIBRDKAFKA_LOGGER.addHandler(logging.NullHandler())
LIBRDKAFKA_LOGGER.propagate = False

_CONNECT_TIMEOUT_SECS = 5.0
_DEFAULT_CHANNEL = "interception"
_SASL_MECHANISM = "SCRAM-SHA-512"  # Tansu's default mechanism, and a common Kafka one
_AUTH_WORDS = ("authentication", "sasl", "credential", "_authentication")


class KafkaSettingsError(ValueError):
    """An mq.* setting has a value the kafka backend cannot use; the message names the key and what is allowed."""


def _get(settings: Any, key: str, default: Any = None) -> Any:
    if settings is None:
        return default
    value = settings.get(key, default)
    return default if value is None else value


@dataclass(frozen=True)
class KafkaConfig:
    """The resolved mq.* settings of one backend. Built once by KafkaMQ at construction."""

    channel: str
    host: str | None
    port: int | None
    uri: str | None
    username: str | None
    password: str | None
    group_id: str | None
    partitions: int

    @classmethod
    def from_settings(cls, settings: Any, channel: str | None = None) -> KafkaConfig:
        """Read mq.* keys (settings may be None: all defaults); the channel argument overrides mq.channel."""
        partitions = _get(settings, "mq.partitions", 1)
        if not isinstance(partitions, int) or isinstance(partitions, bool) or partitions < 1:
            raise KafkaSettingsError(f"mq.partitions={partitions!r}: expected a positive integer (default 1)")
        port = _get(settings, "mq.port", 9092)
        try:
            port = int(port)
        except (TypeError, ValueError):
            raise KafkaSettingsError(f"mq.port={port!r}: expected an integer TCP port") from None
        name = channel or _get(settings, "mq.channel", _DEFAULT_CHANNEL)
        if not isinstance(name, str) or not name:
            raise KafkaSettingsError(f"mq.channel={name!r}: expected a non-empty topic name")
        uri = _get(settings, "mq.uri") or None
        uri_user, uri_password = _uri_credentials(uri)
        return cls(
            channel=name,
            host=str(_get(settings, "mq.host", "localhost")),
            port=port,
            uri=uri,
            username=_get(settings, "mq.username") or uri_user,
            password=_get(settings, "mq.password") or uri_password,
            group_id=_get(settings, "mq.group_id") or None,
            partitions=partitions,
        )

    @property
    def bootstrap_servers(self) -> str:
        """mq.uri (``kafka://[user:pw@]h:p,h2:p2`` or ``h:p``) when set, else mq.host:mq.port; credentials in the
        URI go to SASL (``common()``), never into the address list librdkafka echoes in its errors."""
        if self.uri:
            return _strip_scheme(self.uri).rpartition("@")[2].rstrip("/")
        return f"{self.host}:{self.port}"

    def where(self) -> str:
        """The settings keys and values naming the broker address, for error messages."""
        if self.uri:
            return f"mq.uri={self._safe_uri()!r}"
        return f"mq.host={self.host!r} mq.port={self.port!r}"

    def who(self) -> str:
        """The credential settings, for error messages (the password is never shown)."""
        shown = "<hidden>" if self.password else None
        return f"mq.username={self.username!r} mq.password={shown}"

    def _safe_uri(self) -> str:
        # a URI may carry user:password@; never echo the password
        if self.uri and "@" in self.uri:
            head, _, tail = self.uri.rpartition("@")
            return head.split("//")[0] + "//***@" + tail if "//" in head else "***@" + tail
        return self.uri or ""

    def common(self) -> dict[str, Any]:
        """Settings shared by every client: address, credentials, bounded connection timeouts, logging."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "socket.connection.setup.timeout.ms": int(_CONNECT_TIMEOUT_SECS * 1000),
            "logger": LIBRDKAFKA_LOGGER,
        }
        if self.username:
            conf.update(
                {
                    "security.protocol": "SASL_PLAINTEXT",
                    "sasl.mechanism": _SASL_MECHANISM,
                    "sasl.username": self.username,
                    "sasl.password": self.password or "",
                }
            )
        return conf

    def producer(self, idempotent: bool) -> dict[str, Any]:
        """Producer settings: every batch acknowledged by all in-sync replicas, small linger, big messages allowed."""
        conf = self.common()
        conf.update(
            {
                "acks": "all",
                "enable.idempotence": idempotent,
                "linger.ms": 2,
                # one broker message carries a whole flowcept batch; 10k tasks are a few MB
                "message.max.bytes": 64 * 1024 * 1024,
            }
        )
        return conf

    def consumer(self, group_id: str | None, offset_reset: str) -> dict[str, Any]:
        """Consumer settings; group_id None gives a never-committing private id (subscription by assign())."""
        conf = self.common()
        conf.update(
            {
                "group.id": group_id or f"{self.group_id or 'flowcept-private'}-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "auto.offset.reset": offset_reset,
                # Tansu (and small clusters) join groups in seconds with these; librdkafka's 45 s default takes ~23 s
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 1000,
                "fetch.wait.max.ms": 50,  # latency of an idle consumer; Tansu holds a fetch this long
            }
        )
        return conf


def _strip_scheme(uri: str) -> str:
    for scheme in ("kafka://", "tcp://", "plaintext://", "sasl_plaintext://"):
        if uri.lower().startswith(scheme):
            return uri[len(scheme) :]
    return uri


def _uri_credentials(uri: str | None) -> tuple[str | None, str | None]:
    """(user, password) from ``kafka://user:pw@host:port``; (None, None) without credentials."""
    if not uri or "@" not in uri:
        return None, None
    from urllib.parse import unquote

    userinfo = _strip_scheme(uri).rpartition("@")[0]
    user, _, password = userinfo.partition(":")
    return (unquote(user) or None), (unquote(password) or None)


def _is_auth_error(err: Any) -> bool:
    """True for a refused login. Transport errors name the broker as ``sasl_plaintext://host:port`` when SASL is
    on: a refused connection must not read as refused credentials."""
    name = err.name().lower()
    if "authentication" in name:
        return True
    if name in ("_transport", "_all_brokers_down", "_resolve", "_timed_out"):
        return False
    text = err.str().lower().replace("sasl_plaintext://", "")
    return any(w in text for w in _AUTH_WORDS)


def _reason(errors: list[Any]) -> str:
    """A short cause for an unreachable broker, from the client errors seen (e.g. "connection refused")."""
    texts = [e.str() for e in errors]
    for needle, reason in (
        ("refused", "connection refused"),
        ("resolve", "host name not found"),
        ("timed out", "connection timed out"),
    ):
        if any(needle in t.lower() for t in texts):
            return reason
    return texts[0].split(" (after")[0] if texts else "no answer"


def check_broker(config: KafkaConfig, timeout: float = _CONNECT_TIMEOUT_SECS) -> Any:
    """Called at backend construction: returns a quiet AdminClient once the broker answered a metadata request.

    Raises MQConnectionError naming mq.host/mq.port (or mq.uri) when nothing answers within timeout seconds, and
    mq.username/mq.password (never the password itself) as soon as the broker refuses the credentials.
    """
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    errors: list[Any] = []
    conf = config.common()
    conf["error_cb"] = errors.append  # served by admin.poll() below, on this thread
    try:
        admin = AdminClient(conf)
    except KafkaException as e:
        raise MQConnectionError(f"{config.where()}: invalid client configuration: {e}") from None
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin.list_topics(timeout=min(1.0, max(deadline - time.monotonic(), 0.1)))
            break
        except KafkaException:
            admin.poll(0)
        if any(_is_auth_error(e) for e in errors):
            raise MQConnectionError(
                f"{config.who()} at {config.where()}: the broker refused the credentials "
                f"(SASL {_SASL_MECHANISM}); check mq.username and mq.password"
            )
        if time.monotonic() >= deadline:
            raise MQConnectionError(
                f"{config.where()}: {_reason(errors)} (no Kafka broker answered within {timeout:g} s)"
            )
    # The backend keeps an admin client for liveness_test() and never polls it, so that one must not queue error
    # events or log lines (they would pile up during a long broker outage): no error_cb, no logger, silent.
    quiet = {k: v for k, v in config.common().items() if k != "logger"}
    quiet["log_level"] = 0
    return AdminClient(quiet)
