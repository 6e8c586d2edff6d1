"""The ``rabbitmq`` MQ backend: one durable fanout exchange per channel, batches as persistent messages.

Mapping onto RabbitMQ:

- channel ``C`` (``mq.channel`` or the factory's ``channel``) -> a durable fanout exchange named ``C``.
- publish(batch) -> one persistent message (delivery_mode=2) with body ``encode_batch(batch)``, published with
  publisher confirms: it returns once the broker has taken responsibility for the batch, and raises MQError when
  the broker nacks it. As in any pub/sub, a batch published while no queue is bound reaches nobody: producers
  whose messages must be kept call ensure_group() first (Flowcept does for its persistence group).
- subscribe() -> an exclusive, auto-delete, server-named queue bound to the exchange (see subscription.py).
- group ``G`` -> a durable queue ``C.G`` bound to the exchange, created by ensure_group(G) or subscribe(group=G).
  Its members consume the same queue (each delivery goes to one member); unacked deliveries are requeued by the
  broker when a member closes or dies.

Example::

    mq = RabbitMQBackend(settings, channel="interception")
    mq.ensure_group("persistence")
    mq.publish([{"type": "task", "task_id": "t1"}])
    mq.close(5)
"""

from __future__ import annotations

import threading
from typing import Any

import pika
import pika.exceptions as pex

from flowcept_core.plugin import MQClosedError, MQConnectionError, MQError, encode_batch, get_logger, wire_codec
from flowcept_rabbitmq._connection import ConnectionConfig, connect
from flowcept_rabbitmq.subscription import RabbitMQSubscription, declare_exchange, declare_group_queue

__all__ = ["RabbitMQBackend", "DEFAULT_CHANNEL"]

DEFAULT_CHANNEL = "interception"
_PROPERTIES = pika.BasicProperties(delivery_mode=2, content_type="application/msgpack")
# A connection lost between two publishes (idle heartbeat timeout, broker restart) is reopened this many times.
_RECONNECT_TRIES = 1


class RabbitMQBackend:
    """MQBackend on RabbitMQ. Built by the ``rabbitmq`` MQBackendSpec factory; connects in the constructor.

    publish() is meant for one thread (the flusher); a lock still serializes it with ensure_group(),
    liveness_test() and close(), which may come from other threads, because a pika connection is not thread-safe.
    """

    name = "rabbitmq"
    in_process = False  # subscribers receive decoded copies (flowcept_core.plugin.MQBackend)

    def __init__(self, settings: Any = None, channel: str | None = None):
        """Connect, declare the channel's exchange and enable publisher confirms.

        Raises MQConnectionError naming mq.host/mq.port (or mq.uri) and the credentials keys when it cannot.
        """
        if channel is None:
            channel = (settings.get("mq.channel") if settings is not None else None) or DEFAULT_CHANNEL
        if not isinstance(channel, str) or not channel or len(channel.encode()) > 200:
            raise MQError(
                f"mq.channel={channel!r} is not usable as a RabbitMQ exchange name; "
                "use a non-empty string of at most 200 bytes"
            )
        self.channel = channel
        self.config = ConnectionConfig.from_settings(settings)
        self._wire = wire_codec(settings)  # mq.signing_key, mq.wire_format
        # Read for callers (a persistence consumer picks its group from mq.group_id; the Run batches by
        # mq.buffer_size); subscribe(None) stays private whatever group_id says, as the MQBackend protocol requires.
        self.group_id: str | None = settings.get("mq.group_id") if settings is not None else None
        self.buffer_size: int = int((settings.get("mq.buffer_size") if settings is not None else None) or 50)
        self._lock = threading.Lock()
        self._closed = False
        self._connection: pika.BlockingConnection | None = None
        self._ch: Any = None
        self._groups: list[str] = []  # declared again on every reconnect (a broker restarted without its queues)
        self._open()

    # connection ------------------------------------------------------------------------------------------------
    def _open(self) -> None:
        """(Re)open the publisher connection; raises MQConnectionError."""
        self._connection = connect(self.config)
        try:
            self._ch = self._connection.channel()
            declare_exchange(self._ch, self.channel)
            for group in self._groups:  # so nothing published after a reconnect is unroutable
                declare_group_queue(self._ch, self.channel, group)
            self._ch.confirm_delivery()
        except pex.AMQPError as e:
            self._drop_connection()
            raise MQConnectionError(
                f"{self.config.where()}: connected, but declaring the exchange "
                f"{self.channel!r} (mq.channel) failed: {type(e).__name__}: {e}"
            ) from None

    def _drop_connection(self) -> None:
        conn, self._connection, self._ch = self._connection, None, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # already broken: nothing left to release
                pass

    def _usable(self) -> bool:
        return self._connection is not None and self._connection.is_open and self._ch is not None and self._ch.is_open

    # MQBackend -------------------------------------------------------------------------------------------------
    def publish(self, messages: list[dict]) -> None:
        """Send messages as ONE broker message; returns once the broker confirmed it.

        Called by the flusher thread. Raises MQClosedError after close(), MQError when the broker nacks the batch
        or no queue is bound (no subscriber and no group: the batch would be dropped), MQConnectionError when the
        broker cannot be reached even after reconnecting once.
        """
        body = encode_batch(messages, self._wire)
        with self._lock:
            if self._closed:
                raise MQClosedError(
                    f"rabbitmq backend on channel {self.channel!r} is closed; "
                    f"publish() of {len(messages)} messages refused"
                )
            for attempt in range(_RECONNECT_TRIES + 1):
                try:
                    if not self._usable():
                        self._drop_connection()
                        self._open()
                    self._ch.basic_publish(self.channel, "", body, _PROPERTIES)
                    return
                except pex.NackError:
                    raise MQError(
                        f"RabbitMQ refused (nack) a batch of {len(messages)} messages on exchange {self.channel!r}"
                    ) from None
                except (
                    pex.AMQPConnectionError,
                    pex.ChannelClosed,
                    pex.ChannelWrongStateError,
                    pex.ConnectionWrongStateError,
                    OSError,
                ) as e:
                    self._drop_connection()
                    if attempt == _RECONNECT_TRIES:
                        raise MQConnectionError(
                            f"{self.config.where()}: publishing a batch of {len(messages)} "
                            f"messages failed: {type(e).__name__}: {e}"
                        ) from None
                    get_logger().warning(f"rabbitmq: publisher connection lost ({type(e).__name__}); reconnecting")

    def ensure_group(self, name: str) -> None:
        """Declare the durable group queue ``<channel>.<name>`` bound to the exchange (idempotent).

        A queue receives only what is published after it exists, so this positions a new group at the end of the
        channel; an existing group keeps its backlog. Raises MQError if the broker refuses the declaration.
        """
        with self._lock:
            if self._closed:
                raise MQClosedError(f"rabbitmq backend on channel {self.channel!r} is closed")
            try:
                if not self._usable():
                    self._drop_connection()
                    self._open()
                declare_group_queue(self._ch, self.channel, name)
                if name not in self._groups:
                    self._groups.append(name)
            except pex.AMQPError as e:
                self._drop_connection()  # a failed declaration closes the channel
                raise MQError(
                    f"declaring group {name!r} (queue {self.channel}.{name}) failed: {type(e).__name__}: {e}"
                ) from None

    def subscribe(self, group: str | None = None) -> RabbitMQSubscription:
        """A new subscription on its own connection, ready (queue declared and bound) when this returns.

        group None: a private queue receiving everything published from now on. group "name": a member of the
        durable group queue. Raises MQConnectionError when the broker cannot be reached.
        """
        if self._closed:
            raise MQClosedError(f"rabbitmq backend on channel {self.channel!r} is closed")
        return RabbitMQSubscription(self.config, self.channel, group)

    def liveness_test(self) -> bool:
        """True when the broker answers on the publisher connection (reopened if needed); never raises."""
        if not self._lock.acquire(timeout=5):
            return self._usable()  # a publish holds the connection: it is in use, so judge by its state
        try:
            if self._closed:
                return False
            if not self._usable():
                self._drop_connection()
                self._open()
            self._connection.process_data_events(0)
            return self._usable()
        except Exception as e:
            get_logger().warning(f"rabbitmq liveness test failed: {type(e).__name__}: {e}")
            return False
        finally:
            self._lock.release()

    def close(self, timeout: float | None = None) -> int:
        """Release the publisher connection; returns the number of published messages not confirmed.

        Every publish() waits for its confirm before returning, so nothing is ever left pending and this returns 0;
        timeout is accepted for the protocol. Idempotent.
        """
        if not self._lock.acquire(timeout=-1 if timeout is None else max(timeout, 0)):
            # A publish on another thread still holds the connection: closing it under that call would break pika.
            self._closed = True
            get_logger().warning(f"rabbitmq: close({timeout}) timed out waiting for an in-flight publish")
            return 0
        try:
            if not self._closed:
                self._closed = True
                self._drop_connection()
            return 0
        finally:
            self._lock.release()
