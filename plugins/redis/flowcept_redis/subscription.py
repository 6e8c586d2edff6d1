"""Subscriptions of the redis backend: private (XREAD) or a member of a durable consumer group (XREADGROUP).

Private: the stream's last-generated id is read in the constructor, so every entry added after subscribe()
returns is read, and nothing older.

Group: the Redis consumer group named ``group`` on the stream; each subscription is a consumer with a unique name
(host-pid-random). The group's position and its pending entries live in the server, so they survive restarts.
Redelivery of what a member received but did not ack:
  * close(): the member's pending entries are XCLAIMed to the consumer ``__released__`` with an idle time of ten
    years, and the member is deleted from the group.
  * every receive() first claims entries of ``__released__`` (XPENDING + XCLAIM with a five-year minimum idle
    time: XCLAIM resets the idle time, so two members racing for one entry cannot both get it).
  * entries of a member that crashed: every mq.redelivery_secs / 2, receive() XAUTOCLAIMs entries idle longer
    than mq.redelivery_secs (default 30 s).
Malformed entries are logged, skipped, and (in a group) acked at once so they never come back.

A group that vanished (the server restarted without persistence, or the stream was deleted) is not an error: the
next receive() recreates it at id 0, so every entry written since (by producers that reconnected) is consumed; the
entries the old server held unread are gone with it (the DocumentInserter reports them by count at end of stream).
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from typing import Any

from flowcept_core.plugin import MalformedMessageError, MQError, decode_batch, get_logger
from flowcept_redis.connect import READ_TIMEOUT_SECS, RedisConnectionInfo, client_error

__all__ = ["RedisSubscription", "create_group", "is_nogroup", "PAYLOAD_FIELD", "RELEASED_CONSUMER"]

PAYLOAD_FIELD = b"b"
RELEASED_CONSUMER = "__released__"
_RELEASED_IDLE_MS = 10 * 365 * 24 * 3600 * 1000
_RELEASED_MIN_IDLE_MS = _RELEASED_IDLE_MS // 2
_MAX_BLOCK_SECS = 2.0  # one blocking read; shorter than the read timeout, so a dead server is noticed
_MESSAGES_PER_RECEIVE = 10_000  # about this many messages per receive(): entries = this // mq.buffer_size
_ACK_CHUNK = 1000


def create_group(client: Any, info: RedisConnectionInfo, channel: str, group: str, start: str = "$") -> None:
    """XGROUP CREATE channel group <start> MKSTREAM; an existing group (BUSYGROUP) is left as it is.

    start "$" (a new group: only what is published from now on) or "0" (a group recreated after it was lost: every
    entry the stream holds now).
    """
    import redis.exceptions as rx

    try:
        client.xgroup_create(channel, group, id=start, mkstream=True)
    except rx.ResponseError as e:
        if "BUSYGROUP" not in str(e):
            raise client_error(e, info, f"creating group {group!r} on stream {channel!r}") from None
    except Exception as e:
        raise client_error(e, info, f"creating group {group!r} on stream {channel!r}") from None


def is_nogroup(exc: BaseException) -> bool:
    """True for the server's answer when a consumer group or its stream does not exist (NOGROUP)."""
    return "NOGROUP" in str(exc)


class RedisSubscription:
    """One consumer's view of the stream, with its own connection (used by one thread). Built by
    RedisMQ.subscribe(); connects, and for a group creates it if missing, before returning."""

    def __init__(
        self,
        info: RedisConnectionInfo,
        channel: str,
        group: str | None = None,
        buffer_size: int = 50,
        redelivery_secs: float = 30.0,
    ):
        self.channel = channel
        self.group = group
        self.info = info
        self.redelivery_secs = redelivery_secs
        self._entries = max(1, _MESSAGES_PER_RECEIVE // max(1, buffer_size))
        self._client = info.connect(read_timeout=_MAX_BLOCK_SECS + READ_TIMEOUT_SECS)
        self._unacked: list[bytes] = []
        self._closed = False
        self._failing = False
        self.consumer: str | None = None
        self._last_id: bytes = b"0-0"
        self._next_autoclaim = 0.0  # first receive() looks for entries of crashed members
        self._autoclaim_cursor: Any = "0-0"
        try:
            if group:
                self.consumer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
                create_group(self._client, info, channel, group)
            else:
                self._last_id = self._stream_end()
        except BaseException:
            self._client.close()
            raise

    def _stream_end(self) -> bytes:
        """The stream's last-generated id (b"0-0" when the stream does not exist yet)."""
        import redis.exceptions as rx

        try:
            return self._client.xinfo_stream(self.channel)["last-generated-id"]
        except rx.ResponseError as e:
            if "no such key" in str(e).lower():
                return b"0-0"
            raise client_error(e, self.info, f"reading the end of stream {self.channel!r}") from None
        except Exception as e:
            raise client_error(e, self.info, f"reading the end of stream {self.channel!r}") from None

    # receiving ----------------------------------------------------------------------------------------------
    def receive(self, timeout: float) -> list[dict]:
        """Messages of the entries delivered since the last call, waiting up to timeout seconds for some.

        Returns [] when nothing came, after close(), or while the server is unreachable (logged once per outage,
        then retried on the next call).
        """
        if self._closed:
            return []
        import redis.exceptions as rx

        try:
            entries = self._read_group(timeout) if self.group else self._read_private(timeout)
        except rx.ResponseError as e:
            if self.group and is_nogroup(e):
                self._recreate_group()
                return []
            return self._failed(e, timeout)  # e.g. LOADING/OOM/READONLY while a server restarts: retried
        except (rx.ConnectionError, rx.TimeoutError, OSError, MQError) as e:
            return self._failed(e, timeout)
        if self._failing:
            self._failing = False
            get_logger().warning(f"redis at {self.info.where()} answers again; reading stream {self.channel!r}")
        return self._decode(entries)

    def _failed(self, e: BaseException, timeout: float) -> list:
        """A read failed: log once per outage, wait a moment, return [] (the next receive() tries again)."""
        if not self._failing:
            self._failing = True
            get_logger().error(f"{client_error(e, self.info, f'reading stream {self.channel!r}')}; retrying")
        time.sleep(min(max(timeout, 0.0), 0.5))
        return []

    def _recreate_group(self) -> None:
        """The group is gone (server restarted without persistence, stream deleted): recreate it at id 0, so the
        entries producers wrote since are all consumed. Entries received before and not acked are stored anyway;
        their acks are dropped (they belonged to the lost group)."""
        get_logger().warning(
            f"redis at {self.info.where()}: group {self.group!r} on stream {self.channel!r} no longer exists "
            "(server restarted without persistence?); recreating it at the start of the stream"
        )
        self._unacked = []
        self._autoclaim_cursor = "0-0"
        self._next_autoclaim = 0.0
        try:
            create_group(self._client, self.info, self.channel, self.group, start="0")
        except MQError as e:
            self._failed(e, 0.0)

    def _blocking(self, timeout: float, read: Any) -> list:
        """Call read(block_ms) until it returns entries or timeout passes (each block at most _MAX_BLOCK_SECS)."""
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            left = deadline - time.monotonic()
            # BLOCK 0 would wait forever: below a millisecond, poll without blocking
            block = int(min(left, _MAX_BLOCK_SECS) * 1000) if left >= 0.001 else None
            entries = read(block)
            if entries or left <= _MAX_BLOCK_SECS:
                return entries

    def _read_private(self, timeout: float) -> list:
        def read(block: int | None) -> list:
            resp = self._client.xread({self.channel: self._last_id}, count=self._entries, block=block)
            if not resp:
                return []
            entries = resp[0][1]
            if entries:
                self._last_id = entries[-1][0]
            return entries

        return self._blocking(timeout, read)

    def _read_group(self, timeout: float) -> list:
        entries = self._claim_released()
        if not entries and time.monotonic() >= self._next_autoclaim:
            entries = self._claim_idle()
        if entries:
            return entries

        def read(block: int | None) -> list:
            resp = self._client.xreadgroup(
                self.group, self.consumer, {self.channel: ">"}, count=self._entries, block=block
            )
            return resp[0][1] if resp else []

        return self._blocking(timeout, read)

    def _claim_released(self) -> list:
        """Entries released by members that closed without acking them, now owned by this member."""
        pending = self._client.xpending_range(
            self.channel, self.group, "-", "+", self._entries, consumername=RELEASED_CONSUMER
        )
        if not pending:
            return []
        ids = [p["message_id"] for p in pending]
        return self._client.xclaim(self.channel, self.group, self.consumer, _RELEASED_MIN_IDLE_MS, ids)

    def _claim_idle(self) -> list:
        """Entries pending longer than redelivery_secs with any member (one that crashed), now this member's."""
        cursor, entries, *_ = self._client.xautoclaim(
            self.channel,
            self.group,
            self.consumer,
            int(self.redelivery_secs * 1000),
            start_id=self._autoclaim_cursor,
            count=self._entries,
        )
        self._autoclaim_cursor = cursor
        if cursor in (b"0-0", "0-0"):  # scanned the whole pending list: look again in a while
            self._next_autoclaim = time.monotonic() + self.redelivery_secs / 2
        return [e for e in entries if e and e[1] is not None]

    def _decode(self, entries: list) -> list[dict]:
        out: list[dict] = []
        malformed: list[bytes] = []
        for entry_id, fields in entries:
            try:
                payload = (fields or {}).get(PAYLOAD_FIELD)
                if payload is None:
                    raise MalformedMessageError(f"no {PAYLOAD_FIELD.decode()!r} field (fields: {list(fields or {})})")
                out.extend(decode_batch(payload))
            except MalformedMessageError as e:
                get_logger().error(f"redis stream {self.channel!r} entry {entry_id!r}: skipped a malformed batch: {e}")
                malformed.append(entry_id)
                continue
            if self.group:
                self._unacked.append(entry_id)
        if malformed and self.group:
            try:
                self._xack(malformed)  # so a bad entry is never redelivered and never blocks the group
            except Exception as e:  # unacked, it comes back once and is skipped again
                get_logger().error(f"{client_error(e, self.info, 'acking malformed entries')}")
        return out

    # acknowledging and closing --------------------------------------------------------------------------
    def ack(self) -> None:
        """Acknowledge every entry returned by receive() so far (groups: XACK; private: nothing to do).

        A failure to reach the server is logged; the entries stay pending and are acked on the next call.
        """
        if not self._unacked or self._closed:
            return
        import redis.exceptions as rx

        try:
            self._xack(self._unacked)
            self._unacked = []
        except rx.ResponseError as e:
            if is_nogroup(e):  # the group was lost with its pending list: nothing left to acknowledge
                self._unacked = []
                return
            get_logger().error(f"{client_error(e, self.info, f'acking {len(self._unacked)} entries')}; will retry")
        except Exception as e:
            if not self._failing:  # once per outage; receive() says when the server answers again
                self._failing = True
                get_logger().error(f"{client_error(e, self.info, f'acking {len(self._unacked)} entries')}; "
                                   "will retry")

    def _xack(self, ids: list[bytes]) -> None:
        for i in range(0, len(ids), _ACK_CHUNK):
            self._client.xack(self.channel, self.group, *ids[i : i + _ACK_CHUNK])

    def close(self) -> None:
        """Stop receiving; in a group, hand unacked entries back to the group and leave it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.group:
            try:
                self._release()
                self._client.xgroup_delconsumer(self.channel, self.group, self.consumer)
            except Exception as e:  # its entries stay pending and are claimed after mq.redelivery_secs
                get_logger().warning(
                    f"{client_error(e, self.info, f'leaving group {self.group!r}')}; its pending "
                    f"entries go to another member after mq.redelivery_secs={self.redelivery_secs}"
                )
        try:
            self._client.close()
        except Exception as e:
            get_logger().debug(f"closing a redis subscription connection: {e}")

    def _release(self) -> None:
        """Move every entry pending with this member to ``__released__`` for the next member to claim."""
        while True:
            pending = self._client.xpending_range(
                self.channel, self.group, "-", "+", _ACK_CHUNK, consumername=self.consumer
            )
            if not pending:
                self._unacked = []
                return
            ids = [p["message_id"] for p in pending]
            self._client.xclaim(
                self.channel, self.group, RELEASED_CONSUMER, 0, ids, idle=_RELEASED_IDLE_MS, justid=True
            )
