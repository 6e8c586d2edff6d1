"""KafkaSubscription: one consumer's view of a flowcept channel (a Kafka topic).

A private subscription is a consumer with partitions assigned at explicit offsets (no group, nothing committed).
A group subscription is a member of the Kafka consumer group named by the flowcept group: ack() commits the offsets
of everything receive() returned, so what a member received but did not ack is fetched again by whichever member
owns the partition next (after close(), a crash, or a restart).
"""

from __future__ import annotations

from typing import Any

from flowcept_core.plugin import MalformedMessageError, MQError, decode_batch, get_logger

__all__ = ["KafkaSubscription"]

_MAX_BROKER_MESSAGES = 256  # broker messages (flowcept batches) handed out by one receive()


class KafkaSubscription:
    """Built by KafkaMQ.subscribe(); used by one thread (confluent-kafka consumers are not shared across threads)."""

    def __init__(self, consumer: Any, channel: str, group: str | None):
        self._consumer = consumer
        self.channel = channel
        self.group = group
        self._positions: dict[int, int] = {}  # partition -> offset after the last broker message returned
        self._committed: dict[int, int] = {}
        self._closed = False
        if group is not None:
            consumer.subscribe([channel], on_revoke=self._on_revoke, on_lost=self._on_revoke)

    def _on_revoke(self, consumer: Any, partitions: list) -> None:
        # Called inside poll() during a rebalance. Positions of partitions we lose must not be committed later: the
        # next owner starts at the last committed offset and receives what we returned but did not ack.
        for tp in partitions:
            self._positions.pop(tp.partition, None)
            self._committed.pop(tp.partition, None)

    def receive(self, timeout: float) -> list[dict]:
        """Called by the consumer loop; returns the messages of the batches that arrived (waits up to timeout s).

        Returns [] after close(). A payload that is not a flowcept batch is logged and skipped; its offset counts as
        received, so the next ack() moves the group past it and it never blocks the stream.
        """
        if self._closed:
            return []
        from confluent_kafka import KafkaError

        first = self._consumer.poll(max(float(timeout), 0.0))
        if first is None:
            return []
        # what is already fetched comes along without waiting again
        raw = [first, *self._consumer.consume(num_messages=_MAX_BROKER_MESSAGES, timeout=0)]
        out: list[dict] = []
        for msg in raw:
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                if err.fatal():
                    raise MQError(f"kafka consumer on topic {self.channel!r} failed: {err.str()}")
                get_logger().warning(f"kafka consumer on topic {self.channel!r}: {err.str()}")
                continue
            self._positions[msg.partition()] = msg.offset() + 1
            payload = msg.value() or b""
            try:
                out.extend(decode_batch(payload))
            except MalformedMessageError as e:
                get_logger().error(
                    f"kafka topic {self.channel!r} partition {msg.partition()} offset {msg.offset()}: "
                    f"skipped a malformed message: {e}"
                )
        return out

    def ack(self) -> None:
        """Called after the messages of receive() were handled: commits their offsets (group subscriptions).

        Private subscriptions keep no durable position, so ack() does nothing there. A commit the group refuses
        (the partition moved to another member during a rebalance) is logged: those messages are delivered again
        to the group, which consumers tolerate because stores upsert by id.
        """
        if self._closed or self.group is None:
            return
        from confluent_kafka import KafkaException, TopicPartition

        offsets = [
            TopicPartition(self.channel, p, off) for p, off in self._positions.items() if self._committed.get(p) != off
        ]
        if not offsets:
            return
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as e:
            get_logger().error(
                f"kafka group {self.group!r} on topic {self.channel!r}: ack (offset commit) failed, "
                f"the messages will be delivered again: {e}"
            )
            return
        for tp in offsets:
            self._committed[tp.partition] = tp.offset

    def close(self) -> None:
        """Stop receiving and leave the group (unacked messages go back to it); idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._consumer.close()
        except Exception as e:  # closing must not fail a shutdown
            get_logger().warning(f"closing the kafka consumer on topic {self.channel!r}: {type(e).__name__}: {e}")
