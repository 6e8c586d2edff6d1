"""Delivery of a run's batches to its MQ: publishing in chunks, the disk spill while the broker is down, stream
markers, and spills left by a process that died. A mixin of flowcept_core.buffer.Run (it uses the run's settings,
ids and counters)."""

from __future__ import annotations

import os
import time

from flowcept_core.constants import CONTROL_TYPE, END_OF_STREAM, START_OF_STREAM
from flowcept_core.logger import get_logger
from flowcept_core.packed import message_count

TYPE_CHECKING = False  # typing is not imported at run time (see flowcept_core.capture.context)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Delivery", "CONTROL_TYPE", "END_OF_STREAM", "START_OF_STREAM"]

_RETRY_SECS = 2.0
_CHUNK = 256  # messages per MQ message at least (mq.buffer_size when larger)


class Delivery:
    """Publishing for a Run: ``sink`` (the MQ backend), ``spill`` (the disk spill), ``published``/``unpublished``."""

    sink: Any = None
    spill: Any = None
    packed = False
    published = 0
    unpublished = 0
    errors = 0
    _retry_at = 0.0
    _offered: dict | None = None  # workflow_id -> messages handed to _publish (the end marker's workflow_counts)
    _dropped: dict | None = None  # workflow_id -> those of them neither published nor spilled

    def attach_sink(self, sink: Any) -> None:
        """Deliver to the MQ sink (before start(); with nothing to keep here, a networked MQ gets packed records)."""
        mq = self.settings.section("mq")
        self.sink = sink
        # networked MQ and nothing to keep here: ship compact records, consumers build the messages
        self.packed = self.retained is None and not sink.in_process
        if int(mq.get("spill_max_bytes") or 0) > 0:
            from flowcept_core.spill import Spill, default_spill_dir

            spill_dir = mq.get("spill_dir") or default_spill_dir()
            self.spill = Spill(spill_dir, self.spill_name(mq), int(mq["spill_max_bytes"]))

    def _publish(self, batch: list[dict]) -> None:
        """Send batch (one MQ message per chunk); while the broker is down, chunks go to the disk spill in order.

        mq.buffer_size is how many pending messages trigger a flush; a flush that finds more sends them in chunks
        of up to _CHUNK, since each MQ message costs a round of client overhead whatever its size.
        """
        from flowcept_core.consumers.streams import count_by_workflow

        if self._offered is None:
            self._offered, self._dropped = {}, {}
        count_by_workflow(batch, self._offered)
        size = max(self.batch_size, _CHUNK)
        chunks = [batch[i:i + size] for i in range(0, len(batch), size)]
        if self.spill is not None and not self.spill.empty and not self._deliver_spilled():
            for chunk in chunks:
                self._spill(chunk)
            return
        for k, chunk in enumerate(chunks):
            try:
                self.sink.publish(chunk)
                self.published += message_count(chunk)
            except Exception as e:
                self.errors += 1
                self._retry_at = time.monotonic() + _RETRY_SECS
                if self.spill is None:
                    get_logger().error(f"publishing {len(chunk)} messages to the MQ failed: {type(e).__name__}: {e}")
                else:
                    get_logger().error(f"the MQ refused a batch ({type(e).__name__}: {e}); keeping messages in "
                                       f"{self.spill.path} until it is back")
                for rest in chunks[k:]:
                    self._spill(rest)
                return

    def _spill(self, chunk: list[dict]) -> None:
        if self.spill is None or not self.spill.add(chunk):
            self.unpublished += message_count(chunk)
            from flowcept_core.consumers.streams import count_by_workflow

            count_by_workflow(chunk, self._dropped)

    def _deliver_spilled(self, force: bool = False) -> bool:
        """Publish spilled batches oldest first; False if the broker still refuses (retried every few seconds)."""
        if not force and time.monotonic() < self._retry_at:
            return False
        delivered = 0
        for end, batch in self.spill.peek():
            try:
                self.sink.publish(batch)
            except Exception:
                self._retry_at = time.monotonic() + _RETRY_SECS
                return False
            n = message_count(batch)
            self.published += n
            delivered += n
            self.spill.consumed(end, n)
        if delivered:
            get_logger().warning(f"the MQ is back: delivered {delivered} spilled messages")
        return True

    @staticmethod
    def spill_name(mq: dict) -> str:
        raw = f"{mq.get('type')}-{mq.get('channel')}"
        return "".join(c if c.isalnum() or c in "-_" else "_" for c in raw)

    def _adopt_orphan_spills(self) -> None:
        """Deliver what a producer on this host spilled before it died (its file is taken over, then removed)."""
        from flowcept_core.spill import orphan_spills

        for path in orphan_spills(self.spill.directory, self.spill_name(self.settings.section("mq"))):
            orphan = type(self.spill)(self.spill.directory, "adopted", self.spill.max_bytes)
            orphan.path = path
            orphan.pending_messages = 1  # unknown until read; peek() reads what is there
            batches = list(orphan.peek())
            for _, batch in batches:
                self._publish(batch)
            get_logger().warning(f"delivered {sum(len(b) for _, b in batches)} messages spilled by a previous "
                                 f"process ({path})")
            os.remove(path)

    def close_delivery(self, timeout: float | None, final: Any) -> int:
        """At close, after the last drain: publish final, the end-of-stream marker, the spill; close the sink.
        Returns the number of messages the MQ did not acknowledge."""
        if final:
            self._publish(list(final))
        # message_count: messages this producer put on the stream before the marker (start marker included);
        # spilled ones count too: the spill is delivered in order, before the marker
        # workflow_counts: the same messages by workflow_id (see flowcept_core.consumers.streams)
        spilled = self.spill.pending_messages if self.spill is not None else 0
        dropped = self._dropped or {}
        by_workflow = [[wf, n - dropped.get(wf, 0)] for wf, n in (self._offered or {}).items()]
        marker = {"type": CONTROL_TYPE, "info": END_OF_STREAM, "producer_id": self.producer_id,
                  "workflow_id": self.workflow_id, "message_count": self.published + spilled,
                  "workflow_counts": [pair for pair in by_workflow if pair[1] > 0]}
        self._publish([marker])
        if self.spill is not None and not self.spill.empty:
            deadline = time.monotonic() + (timeout if timeout is not None else 30)
            while not self._deliver_spilled(force=True) and time.monotonic() < deadline:
                time.sleep(0.2)
            if not self.spill.empty:
                get_logger().error(f"the MQ is still unreachable: {self.spill.pending_messages} messages stay "
                                   f"in {self.spill.path}; the next producer on this host delivers them")
            self.unpublished += self.spill.pending_messages
        undelivered = self.unpublished
        try:
            undelivered += int(self.sink.close(timeout) or 0)
        except Exception as e:
            get_logger().error(f"closing the MQ failed: {type(e).__name__}: {e}")
        return undelivered

