"""RabbitMQSubscription: one consumer's view of a channel, on a connection of its own.

Private (group None): an exclusive, auto-delete, server-named queue bound to the channel's fanout exchange, consumed
with automatic acks (the queue dies with the subscription, so there is nothing to redeliver to).
Group member: consumes the shared durable queue ``<channel>.<group>`` with manual acks and a prefetch window;
ack() acknowledges (multiple=True) up to the last delivery returned by receive(); what was delivered but not acked
is requeued by the broker when the member closes, crashes or loses its connection.
"""

from __future__ import annotations

import time
from typing import Any

import pika
import pika.exceptions as pex

from flowcept_core.plugin import MalformedMessageError, MQConnectionError, MQError, decode_batch, get_logger
from flowcept_rabbitmq._connection import ConnectionConfig, connect

__all__ = ["RabbitMQSubscription", "declare_exchange", "declare_group_queue", "group_queue_name", "PREFETCH"]

# Unacked batches a group member may hold: enough to keep the pipe full, small enough that a member that stops
# acking does not hoard the whole backlog away from the other members.
PREFETCH = 1000
_LOST = (pex.AMQPConnectionError, pex.ChannelClosed, pex.ChannelWrongStateError, pex.ConnectionWrongStateError, OSError)


def declare_exchange(ch: Any, channel: str) -> None:
    """Declare the channel's durable fanout exchange (idempotent). Called by publishers and subscribers."""
    ch.exchange_declare(exchange=channel, exchange_type="fanout", durable=True)


def group_queue_name(channel: str, group: str) -> str:
    """The durable queue holding group's position on channel: ``<channel>.<group>``."""
    if not isinstance(group, str) or not group:
        raise MQError(f"group={group!r} is not a valid group name; use a non-empty string")
    return f"{channel}.{group}"


def declare_group_queue(ch: Any, channel: str, group: str) -> str:
    """Declare the group's durable queue and bind it to the exchange (idempotent); returns the queue name."""
    queue = group_queue_name(channel, group)
    declare_exchange(ch, channel)
    ch.queue_declare(queue=queue, durable=True)
    ch.queue_bind(queue=queue, exchange=channel)
    return queue


class RabbitMQSubscription:
    """A Subscription (flowcept_core.hookspecs) on RabbitMQ. Built by RabbitMQBackend.subscribe(); use it from one
    thread. Ready when constructed: its queue is declared and bound, so nothing published afterwards is missed."""

    def __init__(self, config: ConnectionConfig, channel: str, group: str | None = None):
        self.channel = channel
        self.group = group
        self.queue: str | None = None
        self._config = config
        self._conn: pika.BlockingConnection | None = None
        self._ch: Any = None
        self._deliveries: list[tuple[int, bytes]] = []
        self._last_tag: int | None = None
        self._closed = False
        if group is not None:
            group_queue_name(channel, group)  # validates the name before connecting
        self._open()

    # connection -------------------------------------------------------------------------------------------------
    def _open(self) -> None:
        """Connect, declare and bind the queue, start consuming; raises MQConnectionError / MQError."""
        conn = connect(self._config)
        try:
            ch = conn.channel()
            if self.group is not None:
                queue = declare_group_queue(ch, self.channel, self.group)
                ch.basic_qos(prefetch_count=PREFETCH)
                ch.basic_consume(queue=queue, on_message_callback=self._on_message, auto_ack=False)
            else:
                declare_exchange(ch, self.channel)
                queue = ch.queue_declare(queue="", exclusive=True, auto_delete=True).method.queue
                ch.queue_bind(queue=queue, exchange=self.channel)
                ch.basic_consume(queue=queue, on_message_callback=self._on_message, auto_ack=True)
        except pex.AMQPError as e:
            _close_quietly(conn)
            raise MQError(
                f"subscribing to channel {self.channel!r} (group {self.group!r}) failed: {type(e).__name__}: {e}"
            ) from None
        self._conn, self._ch, self.queue = conn, ch, queue

    def _on_message(self, ch: Any, method: Any, properties: Any, body: bytes) -> None:
        # Called by pika inside process_data_events(); decoding waits for receive() so errors are handled there.
        self._deliveries.append((method.delivery_tag, body))

    def _connection_lost(self, e: BaseException) -> None:
        """Forget the broken connection; the next receive() reconnects. Unacked group deliveries are requeued."""
        what = (
            "unacked batches go back to the group"
            if self.group is not None
            else "messages published until it reconnects are missed by this private subscription"
        )
        get_logger().warning(
            f"rabbitmq subscription on {self.channel!r} lost its connection ({type(e).__name__}: {e}); {what}"
        )
        _close_quietly(self._conn)
        self._conn, self._ch = None, None
        self._deliveries = []
        self._last_tag = None

    # Subscription -----------------------------------------------------------------------------------------------
    def receive(self, timeout: float) -> list[dict]:
        """The messages of the batches delivered since the last call, waiting up to timeout seconds for one.

        Returns [] after the wait when nothing came, and after close(). A malformed batch is logged and dropped
        (rejected without requeue, so it never comes back). A lost connection is reopened on the next call.
        """
        if self._closed:
            return []
        if self._conn is None:
            try:
                self._open()
            except (MQConnectionError, MQError) as e:
                get_logger().warning(f"rabbitmq subscription on {self.channel!r}: reconnecting failed: {e}")
                time.sleep(max(timeout, 0))
                return []
        try:
            # process_data_events returns as soon as deliveries were dispatched, or after timeout.
            self._conn.process_data_events(time_limit=max(timeout, 0) if not self._deliveries else 0)
        except _LOST as e:
            self._connection_lost(e)
            return []
        return self._decode(self._take())

    def _take(self) -> list[tuple[int, bytes]]:
        got, self._deliveries = self._deliveries, []
        return got

    def _decode(self, deliveries: list[tuple[int, bytes]]) -> list[dict]:
        out: list[dict] = []
        for tag, body in deliveries:
            try:
                out.extend(decode_batch(body))
            except MalformedMessageError as e:
                get_logger().error(f"rabbitmq channel {self.channel!r}: skipped a malformed batch: {e}")
                if self.group is not None:
                    self._reject(tag)
                continue
            if self.group is not None:
                self._last_tag = tag
        return out

    def _reject(self, tag: int) -> None:
        try:
            self._ch.basic_reject(delivery_tag=tag, requeue=False)
        except _LOST as e:
            self._connection_lost(e)

    def ack(self) -> None:
        """Acknowledge every batch returned by receive() so far (group members; a no-op for private ones)."""
        if self._closed or self._last_tag is None or self._ch is None:
            return
        tag, self._last_tag = self._last_tag, None
        try:
            self._ch.basic_ack(delivery_tag=tag, multiple=True)
        except _LOST as e:
            self._connection_lost(e)

    def close(self) -> None:
        """Stop receiving and release the connection (the broker requeues unacked group deliveries); idempotent."""
        if self._closed:
            return
        self._closed = True
        conn, self._conn, self._ch = self._conn, None, None
        self._deliveries = []
        _close_quietly(conn)


def _close_quietly(conn: Any) -> None:
    if conn is None:
        return
    try:
        if conn.is_open:
            conn.close()
    except Exception:  # the connection is already broken: nothing left to release
        pass
