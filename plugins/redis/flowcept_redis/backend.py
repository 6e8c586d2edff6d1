"""The ``redis`` MQ backend: a Redis Stream per channel, one stream entry (``XADD <channel> * b <payload>``) per batch.

publish() encodes the batch (flowcept_core.wire.encode_batch) on the caller's thread and queues it; a sender
thread writes the queue to the server, several pending batches in one pipeline, retrying while the server is
unreachable. close() waits until the server has acknowledged every queued batch. No MAXLEN is given: the stream
keeps every entry until someone trims it, so nothing is dropped before a late consumer reads it.

Subscriptions (flowcept_redis.subscription): private ones XREAD from the stream's last id at subscribe() time;
group ones use a Redis consumer group (XREADGROUP/XACK), see that module for redelivery.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

from flowcept_core.plugin import MQClosedError, MQConnectionError, MQError, encode_batch, get_logger, wire_codec
from flowcept_redis.connect import RedisConnectionInfo, client_error
from flowcept_redis.subscription import PAYLOAD_FIELD, RedisSubscription, create_group

__all__ = ["RedisMQ"]

_MAX_PENDING_BYTES = 128 * 1024 * 1024  # encoded batches queued for the sender before publish() pushes back
_BACKPRESSURE_WAIT_SECS = 10.0  # how long publish() waits for room before reporting the server as not accepting
_PIPELINE_BATCHES = 256  # batches per pipeline round trip
_PIPELINE_BYTES = 16 * 1024 * 1024
_CLOSE_JOIN_SECS = 6.0  # an in-flight round trip is bounded by the client's 5 s read timeout
_RETRY_SECS = (0.05, 0.1, 0.2, 0.5, 1.0)  # backoff while the server is unreachable


class _Pending:
    """One encoded batch waiting for the server's acknowledgement."""

    __slots__ = ("payload", "count")

    def __init__(self, payload: bytes, count: int):
        self.payload = payload
        self.count = count


class RedisMQ:
    """MQ backend on a Redis Stream named by ``mq.channel`` (the ``channel`` argument overrides it).

    Built by the ``redis`` MQBackendSpec factory; construction connects and PINGs the server and raises
    MQConnectionError (naming mq.host/mq.port or mq.uri, and the credential keys) when that fails.
    """

    name = "redis"
    in_process = False  # subscribers receive decoded copies (flowcept_core.plugin.MQBackend)

    def __init__(self, settings: Any = None, channel: str | None = None):
        get = settings.get if settings is not None else (lambda key, default=None: default)
        self.channel: str = channel or get("mq.channel", "interception") or "interception"
        self.group_id: str | None = get("mq.group_id")  # the group name consumers of this settings use
        self.buffer_size = max(1, int(get("mq.buffer_size", 50) or 50))
        self.redelivery_secs = float(get("mq.redelivery_secs", 30) or 30)
        self.info = RedisConnectionInfo.from_settings(settings)
        self._wire = wire_codec(settings)  # mq.signing_key, mq.wire_format
        self._groups: set[str] = set()  # groups ensured here: recreated on every new connection (see _on_connect)
        self._client = self.info.connect(on_connect=self._on_connect)
        self._cond = threading.Condition()
        self._queue: collections.deque[_Pending] = collections.deque()
        self._queued_bytes = 0
        self._queued_messages = 0
        # the queue counts as part of the producer's buffer: at most mq.max_pending_messages messages wait here too
        self._max_queued_messages = max(1, int(get("mq.max_pending_messages", 200_000) or 200_000))
        self._inflight: list[_Pending] = []
        self._failed = 0  # messages of batches the server refused (not retried)
        self._refused: str | None = None  # why the server refused the last batch, until a batch goes through
        self._unreachable_since: float | None = None
        self._sender: threading.Thread | None = None
        self._stopping = False
        self._closed = False
        self._undelivered: int | None = None

    # publishing ----------------------------------------------------------------------------------------
    def publish(self, messages: list[dict]) -> None:
        """Queue one batch as one stream entry. Called from the flusher thread.

        Raises MQClosedError after close(); MQError when the server refused the previous batch and refuses this
        one too, or when it has been unreachable so long that the queue is full.
        """
        if self._closed or self._stopping:
            raise MQClosedError(f"redis MQ on stream {self.channel!r} ({self.info.where()}) is closed")
        if not messages:
            return
        payload = encode_batch(messages, self._wire)
        if self._refused is not None:
            self._publish_now(payload, len(messages))
            return
        with self._cond:
            deadline = time.monotonic() + _BACKPRESSURE_WAIT_SECS
            while (self._queued_bytes > _MAX_PENDING_BYTES or self._queued_messages >= self._max_queued_messages) \
                    and not self._stopping:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise MQError(
                        f"redis at {self.info.where()} is not accepting batches on stream "
                        f"{self.channel!r}: {len(self._queue)} batches ({self._queued_bytes} bytes) "
                        f"are still waiting; this batch of {len(messages)} messages was not queued"
                    )
                self._cond.wait(left)
            self._queue.append(_Pending(payload, len(messages)))
            self._queued_bytes += len(payload)
            self._queued_messages += len(messages)
            if self._sender is None:
                self._sender = threading.Thread(
                    target=self._send_loop, name=f"flowcept-redis-{self.channel}", daemon=True
                )
                self._sender.start()
            self._cond.notify_all()

    def _publish_now(self, payload: bytes, count: int) -> None:
        """After a refusal: wait for the queue to drain, then send this batch synchronously so a refusal is
        raised to the caller of publish() (and a success ends the refused state)."""
        self._wait_idle(_BACKPRESSURE_WAIT_SECS)
        try:
            self._client.xadd(self.channel, {PAYLOAD_FIELD: payload})
        except Exception as e:
            err = client_error(e, self.info, f"adding a batch of {count} messages to stream {self.channel!r}")
            self._refused = str(err)
            raise err from None
        self._refused = None

    def _take(self) -> list[_Pending]:
        """Next batches to send (waits for some); [] when stopping. Called by the sender thread under _cond."""
        while not self._queue and not self._stopping:
            self._cond.wait()
        if self._stopping:  # close() has counted what is left as undelivered: send nothing after that
            return []
        out: list[_Pending] = []
        size = 0
        while self._queue and len(out) < _PIPELINE_BATCHES and size < _PIPELINE_BYTES:
            item = self._queue.popleft()
            size += len(item.payload)
            out.append(item)
        self._queued_bytes -= size
        self._queued_messages -= sum(item.count for item in out)
        self._inflight = out
        return out

    def _send_loop(self) -> None:
        """Sender thread: write queued batches until close(); keep their order; retry while unreachable."""
        while True:
            with self._cond:
                batch = self._take()
                if not batch:
                    return
            attempt = 0
            while True:
                try:
                    self._send(batch)
                    break
                except MQConnectionError as e:
                    if self._stopping:  # close() gave up waiting; these stay counted as undelivered
                        return
                    self._note_unreachable(e)
                    time.sleep(_RETRY_SECS[min(attempt, len(_RETRY_SECS) - 1)])
                    attempt += 1
            with self._cond:
                self._inflight = []
                self._cond.notify_all()

    def _send(self, batch: list[_Pending]) -> None:
        """XADD each batch (a pipeline when several); a refused entry is counted and logged, not retried.

        Raises MQConnectionError when the server cannot be reached (the whole round is retried: entries the
        server took before the connection broke may then arrive twice; consumers are idempotent by task_id).
        """
        import redis.exceptions as rx

        try:
            if len(batch) == 1:
                results: list[Any] = [self._xadd_one(batch[0])]
            else:
                pipe = self._client.pipeline(transaction=False)
                for item in batch:
                    pipe.xadd(self.channel, {PAYLOAD_FIELD: item.payload})
                results = pipe.execute(raise_on_error=False)
        except (rx.ConnectionError, rx.TimeoutError, OSError) as e:
            raise client_error(e, self.info, f"adding batches to stream {self.channel!r}") from None
        if self._unreachable_since is not None:
            get_logger().warning(f"redis at {self.info.where()} is reachable again; resent {len(batch)} batches")
            self._unreachable_since = None
        for item, result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                err = client_error(result, self.info, f"adding a batch of {item.count} messages to {self.channel!r}")
                self._failed += item.count
                self._refused = str(err)
                get_logger().error(f"{err}; the batch is dropped")

    def _xadd_one(self, item: _Pending) -> Any:
        import redis.exceptions as rx

        try:
            return self._client.xadd(self.channel, {PAYLOAD_FIELD: item.payload})
        except rx.ResponseError as e:  # refused by the server: reported like a pipeline's per-entry error
            return e

    def _note_unreachable(self, err: Exception) -> None:
        if self._unreachable_since is None:
            self._unreachable_since = time.monotonic()
            get_logger().error(f"{err}; retrying (batches are kept in memory until it answers or close() times out)")

    def _wait_idle(self, timeout: float | None) -> bool:
        """Wait until the sender has nothing queued or in flight; True when it got there within timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._queue or self._inflight:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    # consuming -------------------------------------------------------------------------------------------
    def ensure_group(self, name: str) -> None:
        """Create consumer group name on the stream at its current end ($, creating the stream) unless it exists.

        Producers call it at start, so a consumer that joins later still gets everything published after it.
        """
        create_group(self._client, self.info, self.channel, name)
        self._groups.add(name)

    def _on_connect(self, conn: Any) -> None:
        """Called by redis-py on every new connection of the publishing client (after a server restart too):
        recreate the ensured groups that are missing, at id 0, before this producer writes anything more.

        Without this, a server restarted without persistence has the producers' new entries but no group, and a
        DocumentInserter started afterwards would create the group at the end of the stream and skip them.
        """
        import redis.exceptions as rx

        conn.on_connect()
        for group in sorted(self._groups):
            conn.send_command("XGROUP", "CREATE", self.channel, group, "0", "MKSTREAM")
            try:
                conn.read_response()
            except rx.ResponseError as e:
                if "BUSYGROUP" not in str(e):
                    get_logger().error(f"redis at {self.info.where()}: recreating group {group!r}: {e}")
            else:
                get_logger().warning(
                    f"redis at {self.info.where()}: group {group!r} on stream {self.channel!r} was missing "
                    "(server restarted without persistence?); recreated at the start of the stream"
                )

    def subscribe(self, group: str | None = None) -> RedisSubscription:
        """A new subscription with its own connection (see RedisSubscription); ready when it returns."""
        if self._closed:
            raise MQClosedError(f"redis MQ on stream {self.channel!r} ({self.info.where()}) is closed")
        return RedisSubscription(self.info, self.channel, group, self.buffer_size, self.redelivery_secs)

    def liveness_test(self) -> bool:
        """True when the server answers PING; never raises."""
        try:
            return bool(self._client.ping())
        except Exception:
            return False

    def close(self, timeout: float | None = None) -> int:
        """Wait up to timeout seconds (None: until done) for the server to acknowledge every queued batch, stop
        the sender, release the connections. Returns the number of messages not acknowledged. Idempotent."""
        if self._undelivered is not None:
            return self._undelivered
        self._wait_idle(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            undelivered = self._failed + sum(p.count for p in self._queue) + sum(p.count for p in self._inflight)
        if self._sender is not None:
            self._sender.join(_CLOSE_JOIN_SECS)
        self._closed = True
        self._undelivered = undelivered
        try:
            self._client.close()
        except Exception as e:  # already broken: nothing left to release
            get_logger().debug(f"closing the redis client: {e}")
        if undelivered:
            get_logger().error(
                f"redis MQ on stream {self.channel!r}: {undelivered} messages were not acknowledged "
                f"by {self.info.where()} before close()"
            )
        return undelivered
