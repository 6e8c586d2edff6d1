"""The ``kafka`` MQ backend: a flowcept channel is a Kafka topic, a flowcept group a Kafka consumer group.

Publishing: one Kafka message per flowcept batch (flowcept_core.wire.encode_batch), acks=all, idempotent producer;
delivery reports count acknowledged messages (flowcept messages, not batches) so close() can say what was lost.

Positions: "the end of the channel" is found with a *fence*: an empty flowcept batch (``encode_batch([])``, which
every consumer decodes to no messages) produced to each partition; its acknowledged offset + 1 is an exact end.
We do not trust ListOffsets(latest): Tansu answers the base offset of the last record batch + 1, which would replay
the tail of that batch to a new subscriber.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any

from flowcept_core.plugin import MQClosedError, MQError, encode_batch, get_logger, wire_codec
from flowcept_kafka.config import KafkaConfig, check_broker
from flowcept_kafka.subscription import KafkaSubscription

__all__ = ["KafkaMQ"]

_FENCE = encode_batch([])
_ADMIN_TIMEOUT_SECS = 10.0
_QUEUE_FULL_WAIT_SECS = 30.0
_LIVENESS_TIMEOUT_SECS = 2.0
_TOPIC_CHECK_SECS = 2.0  # while batches wait for the broker, how often publish() checks the topic still exists
_BROKER_LOST = (-195, -187)  # librdkafka's _TRANSPORT, _ALL_BROKERS_DOWN


class KafkaMQ:
    """MQ backend on one Kafka topic (``mq.channel``, or the channel argument). Built by the ``kafka`` factory.

    Construction connects, checks the broker and creates the topic when missing (``mq.partitions``, default 1, so
    publish order is kept). Raises MQConnectionError naming the settings keys when the broker cannot be used.
    """

    name = "kafka"
    in_process = False  # subscribers receive decoded copies (flowcept_core.plugin.MQBackend)

    def __init__(self, settings: Any = None, channel: str | None = None):
        self.config = KafkaConfig.from_settings(settings, channel)
        self._wire = wire_codec(settings)  # mq.signing_key, mq.wire_format
        self.channel = self.config.channel
        self._admin = check_broker(self.config)
        self._partitions = self._ensure_topic()
        self._lock = threading.Lock()  # delivery counters: reports are served by publish() and by close()
        self._published = 0
        self._acked = 0
        self._failed = 0
        self._fatal: Any = None
        self._idempotent = True
        self._producer = self._make_producer(idempotent=True)
        self._fence_lock = threading.Lock()
        self._fence_producer: Any = None
        self._closed = False
        self._undelivered = 0
        self._groups: list[str] = []  # ensured here: positioned at the start of a topic that had to be recreated
        self._next_topic_check = 0.0
        self._broker_lost = False
        # batches sent and not yet acknowledged, resent by a new producer when the broker lost its state
        self._unacked: dict[int, tuple[bytes, int]] = {}
        self._seq = 0
        self._generation = 0
        self._oldest_seen: list[int | None] = []

    # setup ------------------------------------------------------------------------------------------------------
    def _ensure_topic(self) -> list[int]:
        """The topic's partition ids, creating the topic with mq.partitions partitions when it does not exist."""
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import NewTopic

        topics = self._admin.list_topics(timeout=_ADMIN_TIMEOUT_SECS).topics
        if self.channel not in topics:
            future = self._admin.create_topics([NewTopic(self.channel, self.config.partitions, 1)])[self.channel]
            try:
                future.result(_ADMIN_TIMEOUT_SECS)
            except KafkaException as e:
                if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:  # another process won the race: fine
                    raise MQError(f"mq.channel={self.channel!r}: could not create the Kafka topic: {e}") from None
        deadline = time.monotonic() + _ADMIN_TIMEOUT_SECS
        while True:  # metadata of a new topic can lag its creation by a moment
            meta = self._admin.list_topics(topic=self.channel, timeout=_ADMIN_TIMEOUT_SECS).topics.get(self.channel)
            if meta is not None and meta.error is None and meta.partitions:
                return sorted(meta.partitions)
            if time.monotonic() > deadline:
                raise MQError(f"mq.channel={self.channel!r}: the Kafka topic has no partitions after creation")
            time.sleep(0.1)

    def _make_producer(self, idempotent: bool) -> Any:
        from confluent_kafka import Producer

        conf = self.config.producer(idempotent)
        conf["error_cb"] = self._on_client_error
        return Producer(conf)

    def _on_client_error(self, err: Any) -> None:
        # Called from poll()/flush(). A fatal error (e.g. a broker that rejects idempotent producers) disables the
        # producer; publish() replaces it. Other errors are transient (librdkafka retries them).
        if err.fatal():
            self._fatal = err
        elif err.code() in _BROKER_LOST:
            self._broker_lost = True  # publish() checks the topic and the groups once the broker answers again

    def _on_delivery(self, generation: int, seq: int, count: int, err: Any, msg: Any) -> None:
        with self._lock:
            if generation != self._generation:  # a producer replaced after a broker restart: its batches were resent
                return
            self._unacked.pop(seq, None)
            if err is None:
                self._acked += count
                return
            self._failed += count
            failed = self._failed
        if err.fatal():
            self._fatal = err
        get_logger().error(
            f"kafka topic {self.channel!r}: a batch of {count} messages was not acknowledged: {err.str()} "
            f"({failed} messages lost so far)"
        )

    def _replace_fatal_producer(self) -> None:
        """Called by publish() after a fatal producer error: fall back to a non-idempotent producer, once."""
        err = self._fatal
        if not self._idempotent:
            raise MQError(f"kafka producer on topic {self.channel!r} failed permanently: {err.str()}")
        get_logger().warning(
            f"kafka broker at {self.config.bootstrap_servers} rejected the idempotent producer ({err.str()}); "
            "falling back to acks=all without idempotence"
        )
        self._drop_producer(self._producer, 0)
        self._idempotent = False
        self._fatal = None
        self._producer = self._make_producer(idempotent=False)

    def _stuck(self) -> bool:
        """True when the oldest unacknowledged batch is the same at this check and the two before (>= 4 s)."""
        with self._lock:
            oldest = min(self._unacked) if self._unacked else None
        seen = self._oldest_seen = [*self._oldest_seen[-2:], oldest]
        return oldest is not None and len(seen) == 3 and seen[0] == seen[1] == seen[2]

    def _resend_unacked(self) -> None:
        """After a broker restart that lost its state, the producer's idempotence state is unknown there and its
        queued batches never complete: replace it and send every unacknowledged batch again, in order (a batch the
        old broker had taken may arrive twice; stores upsert by id)."""
        old = self._producer
        with self._lock:
            self._generation += 1
            generation = self._generation
            pending = sorted(self._unacked.items())
        self._producer = self._make_producer(self._idempotent)
        old.purge(in_queue=True, in_flight=True, blocking=False)
        old.poll(0)  # its purge reports belong to the old generation and are ignored
        for seq, (payload, count) in pending:
            self._producer.produce(self.channel, value=payload,
                                   on_delivery=functools.partial(self._on_delivery, generation, seq, count))
        self._oldest_seen = []
        if pending:
            get_logger().warning(f"kafka topic {self.channel!r}: resent {len(pending)} unacknowledged batches "
                                 "after the broker restart")

    # MQBackend -------------------------------------------------------------------------------------------------
    def publish(self, messages: list[dict]) -> None:
        """Called by the flusher thread: send messages as ONE Kafka message (encode_batch).

        Returns once the batch is queued; its acknowledgement is counted when the broker reports it (see close()).
        Raises MQClosedError after close(), MQError when the client refuses the batch (too large, producer failed)
        or the local queue stays full for 30 s.
        """
        if self._closed:
            raise MQClosedError(f"kafka MQ on topic {self.channel!r} is closed")
        if self._fatal is not None:
            self._replace_fatal_producer()
        from confluent_kafka import KafkaException

        payload = encode_batch(messages, self._wire)
        with self._lock:
            seq = self._seq = self._seq + 1
            self._unacked[seq] = (payload, len(messages))
        on_delivery = functools.partial(self._on_delivery, self._generation, seq, len(messages))
        deadline = time.monotonic() + _QUEUE_FULL_WAIT_SECS
        while True:
            try:
                self._producer.produce(self.channel, value=payload, on_delivery=on_delivery)
                break
            except BufferError:
                # librdkafka's local queue is full: serve delivery reports to make room, but not forever
                if time.monotonic() > deadline:
                    raise MQError(
                        f"kafka topic {self.channel!r}: the producer queue stayed full for {_QUEUE_FULL_WAIT_SECS:g} s "
                        f"(is the broker at {self.config.bootstrap_servers} down?)"
                    ) from None
                self._producer.poll(0.1)
            except KafkaException as e:
                raise MQError(
                    f"kafka topic {self.channel!r} refused a batch of {len(messages)} messages "
                    f"({len(payload)} bytes): {e.args[0].str() if e.args else e}"
                ) from None
        with self._lock:
            self._published += len(messages)
        self._producer.poll(0)
        if (self._broker_lost or len(self._producer)) and time.monotonic() >= self._next_topic_check:
            self._recover_lost_state()

    def _recover_lost_state(self) -> None:
        """Called by publish() every few seconds after the broker was lost or while batches wait for it: a broker
        restarted without persistence has lost the topic (librdkafka would hold the batches until they time out)
        and the groups' positions. Create the topic again if missing; commit offset 0 for every ensured group that
        lost its position, so a DocumentInserter joining later reads everything written since the restart."""
        self._next_topic_check = time.monotonic() + _TOPIC_CHECK_SECS
        try:
            topics = self._admin.list_topics(timeout=_LIVENESS_TIMEOUT_SECS).topics
        except Exception:  # unreachable: librdkafka keeps retrying the batches meanwhile
            return
        try:
            if self.channel not in topics:
                get_logger().warning(f"kafka topic {self.channel!r} no longer exists on "
                                     f"{self.config.bootstrap_servers} (broker restarted without persistence?); "
                                     "creating it again")
                self._partitions = self._ensure_topic()
                self._resend_unacked()
            elif self._stuck():
                self._resend_unacked()  # reachable, yet the oldest batch got no report for two checks in a row
            if self._broker_lost:
                for group in self._groups:
                    self._position_group(group, at_start=True)
                self._broker_lost = False
        except MQError as e:
            get_logger().error(f"kafka topic {self.channel!r}: restoring the topic and group positions: {e}")

    def _end_offsets(self) -> dict[int, int]:
        """The exact end offset of every partition, by producing a fence (an empty batch) to each and waiting."""
        from confluent_kafka import KafkaException, Producer

        results: dict[int, tuple[Any, int]] = {}

        def on_delivery(err: Any, msg: Any) -> None:
            results[msg.partition()] = (err, msg.offset())

        with self._fence_lock:
            if self._fence_producer is None:
                self._fence_producer = Producer(self.config.producer(idempotent=False))
            try:
                for p in self._partitions:
                    self._fence_producer.produce(self.channel, value=_FENCE, partition=p, on_delivery=on_delivery)
                left = self._fence_producer.flush(_ADMIN_TIMEOUT_SECS)
            except KafkaException as e:
                raise MQError(f"kafka topic {self.channel!r}: could not find the end of the topic: {e}") from None
        errors = [err.str() for err, _ in results.values() if err is not None]
        if left or errors or len(results) != len(self._partitions):
            raise MQError(
                f"kafka topic {self.channel!r}: the broker did not acknowledge the position marker within "
                f"{_ADMIN_TIMEOUT_SECS:g} s: {'; '.join(errors) or 'timeout'}"
            )
        return {p: offset + 1 for p, (_, offset) in results.items()}

    def ensure_group(self, name: str) -> None:
        """Called by producers at start and by subscribe(group=...): make the Kafka consumer group ``name`` exist.

        A group without committed offsets gets the current end of every partition committed, so it receives what
        is published from now on and never replays older runs. A group that has offsets is left alone (idempotent).
        """
        self._check_group_name(name)
        if self._closed:
            raise MQClosedError(f"kafka MQ on topic {self.channel!r} is closed")
        self._position_group(name, at_start=False)
        if name not in self._groups:
            self._groups.append(name)

    def _position_group(self, name: str, at_start: bool) -> bool:
        """Commit a position for every partition where group name has none: the end (a new group), or offset 0
        (at_start: the topic was recreated, everything in it is new). True when some partition had none."""
        from confluent_kafka import Consumer, KafkaException, TopicPartition

        consumer = Consumer(self.config.consumer(name, "earliest"))
        try:
            tps = [TopicPartition(self.channel, p) for p in self._partitions]
            committed = consumer.committed(tps, timeout=_ADMIN_TIMEOUT_SECS)
            missing = [tp.partition for tp in committed if tp.offset < 0]
            if missing:
                ends = {p: 0 for p in missing} if at_start else self._end_offsets()
                offsets = [TopicPartition(self.channel, p, ends[p]) for p in missing]
                consumer.commit(offsets=offsets, asynchronous=False)
                if at_start:
                    get_logger().warning(f"kafka group {name!r} had lost its position on topic {self.channel!r} "
                                         "(broker restarted without persistence?); set to the start of the topic")
            return bool(missing)
        except KafkaException as e:
            raise MQError(f"kafka group {name!r} on topic {self.channel!r}: could not set its position: {e}") from None
        finally:
            consumer.close()

    @staticmethod
    def _check_group_name(name: Any) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"group={name!r}: a group name must be a non-empty string (or None for private)")

    def subscribe(self, group: str | None = None) -> KafkaSubscription:
        """Called by consumers: a new subscription to this topic, with its own consumer (own connection).

        group None: receives every message published after this returns (partitions assigned at exact end
        offsets; nothing is committed). group "name": a member of the Kafka consumer group ``name``, created at
        the end of the topic if new; members share partitions, and unacked messages go to the next owner.
        """
        if group is not None:
            self._check_group_name(group)
        if self._closed:
            raise MQClosedError(f"kafka MQ on topic {self.channel!r} is closed")
        from confluent_kafka import Consumer, TopicPartition

        if group is None:
            ends = self._end_offsets()
            consumer = Consumer(self.config.consumer(None, "latest"))
            consumer.assign([TopicPartition(self.channel, p, ends[p]) for p in self._partitions])
            return KafkaSubscription(consumer, self.channel, None)
        self.ensure_group(group)
        return KafkaSubscription(Consumer(self.config.consumer(group, "earliest")), self.channel, group)

    def liveness_test(self) -> bool:
        """True when the broker answers a metadata request within 2 s; False otherwise (never raises)."""
        if self._closed:
            return False
        try:
            self._admin.list_topics(timeout=_LIVENESS_TIMEOUT_SECS)
            return True
        except Exception:
            return False

    def close(self, timeout: float | None = None) -> int:
        """Called at stop: wait up to timeout seconds (None: until done) for the broker to acknowledge every batch,
        release the clients, and return the number of messages not acknowledged. Idempotent."""
        with self._fence_lock:
            if self._closed:
                return self._undelivered
            self._closed = True
            self._flush_recovering(timeout)
            self._drop_producer(self._producer, 0)
            if self._fence_producer is not None:
                self._drop_producer(self._fence_producer, 0)
            self._producer = self._fence_producer = None
            with self._lock:
                self._undelivered = max(self._published - self._acked, 0)
            return self._undelivered

    def _flush_recovering(self, timeout: float | None) -> None:
        """Wait (up to timeout s; None: until done) for every batch's acknowledgement, a second at a time, restoring
        the topic and groups in between if the broker restarted without its state (see _recover_lost_state)."""
        deadline = None if timeout is None else time.monotonic() + max(float(timeout), 0.0)
        while len(self._producer):
            left = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
            if left <= 0:
                return
            self._producer.flush(left)
            if len(self._producer) and time.monotonic() >= self._next_topic_check:
                self._recover_lost_state()

    @staticmethod
    def _drop_producer(producer: Any, timeout: float | None) -> None:
        """Flush up to timeout seconds, then purge what is left (its delivery reports count it as failed)."""
        if timeout is None:
            while producer.flush(1.0):
                pass
        else:
            producer.flush(max(float(timeout), 0.0))
        if len(producer):
            producer.purge(in_queue=True, in_flight=True, blocking=False)
            producer.poll(0)
