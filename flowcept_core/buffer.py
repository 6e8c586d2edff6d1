"""The Run: the per-Flowcept buffer that decorated calls append to, and the flusher that empties it.

Hot path: ``run.append(msg_dict)``, or ``run.extend((template, field, ...))`` which lays a record flat into the
list (one C call, so a drain never sees half a record, and no tuple survives to burden the garbage collector);
``template.width`` is the record's length and ``template.materialize(record, run) -> dict`` builds the message.
Everything else happens in ``drain()``, called by the flusher thread (online: publish to the MQ; offline: keep for
dump/get_buffer) and by stop()/get_buffer()/dump_buffer().

Taking pending records is lock-free with respect to producers: a drain reads the first n entries (n fixed when it
starts), overwrites those it took with None and deletes the taken prefix now and then; each of these is one C call
under the GIL that keeps the entries past n as they are, so concurrent appends wait for the next drain.

The buffer is bounded (``mq.max_pending_messages``): when the flusher finds more pending, ``append``/``extend`` are
swapped for versions that, past the bound, drain in the caller's thread (waiting for a drain in progress first), so a
producer faster than delivery is slowed to its pace instead of growing the backlog; they are swapped back once the
backlog halved. Retained messages (get_buffer, the buffer file) live in a flowcept_core.retained.Retained.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Iterator

from flowcept_core.delivery import CONTROL_TYPE, END_OF_STREAM, START_OF_STREAM, Delivery
from flowcept_core.direct import DirectStore, drain_direct
from flowcept_core.ids import format_id
from flowcept_core.logger import get_logger
from flowcept_core.packed import pack
from flowcept_core.replay import drain_kept, window_end
from flowcept_core.retained import Retained
from flowcept_core.serialize import ValueLimits, sanitize, sanitize_dict
from flowcept_core.telemetry.summary import attach_telemetry

TYPE_CHECKING = False  # typing is not imported at run time (see flowcept_core.capture.context)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Run", "END_OF_STREAM", "START_OF_STREAM", "CONTROL_TYPE"]

_POLL_SECS = 0.005  # also how much capture can pass the bound by, from a quiet start, before it is regulated
_CHUNK = 256  # messages per MQ message and per retained blob: dicts die young, before the collector promotes them
_WINDOW = 4096  # records taken off the buffer at a time
_PACKED_RECORDS = 1024  # records per packed MQ message
_OFFLINE_DRAIN_SECS = 1.0
_RECORD_ENTRIES = 11  # list entries of a full task record: the bound counts messages as this many entries


class Run(Delivery):
    """One capture session of a Flowcept controller: identity, buffer, optional MQ sink and retained messages."""

    direct: DirectStore | None = None  # set when task records may skip the in-process MQ (flowcept_core.direct)

    def __init__(self, *, workflow_id: str, campaign_id: str | None, workflow_name: str | None, settings: Any,
                 sink: Any = None, retain: bool = True, telemetry: Any = None, telemetry_cfg: Any = None,
                 producer_id: str | None = None, spool_dir: str | None = None, host: dict | None = None):
        self.workflow_id = workflow_id
        self.campaign_id = campaign_id
        self.workflow_name = workflow_name
        self.settings = settings
        project = settings.section("project")
        self.limits = ValueLimits.from_settings(project)
        self.enrich = bool(project.get("enrich_messages", True))
        mq = settings.section("mq")
        self.batch_size = int(mq.get("buffer_size", 50))
        self.flush_secs = float(mq.get("insertion_buffer_time_secs", 5))
        self.retained: Retained | None = Retained(spool_dir) if retain else None
        self.max_entries = max(int(mq.get("max_pending_messages") or 200_000), 1) * _RECORD_ENTRIES
        self.telemetry = telemetry  # a TelemetrySampler (read .snapshot) or None; may be set after start
        self.telemetry_cfg = telemetry_cfg
        self.host_fields: dict = {}
        self.hostname: str | None = None  # both set by set_host_fields() before anything is drained
        if host is not None:
            self.set_host_fields(host)
        self.format_id = format_id
        self.producer_id = producer_id or f"{os.uname()[1]}-{os.getpid()}-{id(self):x}"
        self.items: list = []
        self.append = self.items.append
        self.extend = self.items.extend
        self.open_loops: weakref.WeakSet = weakref.WeakSet()
        self.published = 0
        self.unpublished = 0
        if sink is not None:
            self.attach_sink(sink)
        self.late = 0
        self.errors = 0
        self._drain_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._held = False
        self._closed = False
        self._helped = self._helped_seen = 0  # drains producers made while throttled; as of the last poll

    def set_host_fields(self, fields: dict) -> None:
        """The host fields enriched messages get (hostname, node_name, login_name)."""
        self.host_fields = fields
        self.hostname = fields.get("hostname")

    # producers ---------------------------------------------------------------
    def emit(self, msg: dict) -> None:
        """Add a ready message dict (workflow messages, adapter messages, FlowceptTask)."""
        self.append(msg)

    def emit_many(self, msgs: list) -> None:
        """Add several messages or flat records at once (FlowceptLightweightLoop publishes its iterations so)."""
        self.extend(msgs)

    def _regulate(self, pending: int) -> None:
        """Called by the flusher each poll with the backlog: over the bound, producers help deliver from now on;
        back to the fast path once a whole poll passed without a producer having to help and the backlog is low."""
        throttled = self.extend != self.items.extend
        if not throttled:
            if pending > self.max_entries and not self._closed:
                self.append = self._append_helping
                self.extend = self._extend_helping
        elif self._helped == self._helped_seen and pending <= self.max_entries // 2 and not self._closed:
            self.append = self.items.append
            self.extend = self.items.extend
        self._helped_seen = self._helped

    def _append_helping(self, item: Any) -> None:
        self.items.append(item)
        if len(self.items) > self.max_entries:
            self._help()

    def _extend_helping(self, record: Any) -> None:
        self.items.extend(record)
        if len(self.items) > self.max_entries:
            self._help()

    def _help(self) -> None:
        if self._thread is not None and threading.current_thread() is self._thread:
            return
        self._helped += 1
        if self._helped == 1:
            bound = self.max_entries // _RECORD_ENTRIES
            get_logger().info(f"capture is faster than delivery: more than {bound} messages pending "
                              "(mq.max_pending_messages); producers now wait for delivery")
        try:
            self.drain()  # waits for a drain in progress (the backpressure), then takes what is pending
        except Exception as e:
            get_logger().error(f"delivering pending messages failed: {type(e).__name__}: {e}")

    def _late_append(self, record: Any) -> None:
        self.late += 1
        if self.late == 1:
            get_logger().warning(f"a message arrived after Flowcept.stop() for workflow {self.workflow_id}; "
                                 "it is not captured (is a thread still running tasks?)")

    # materialization ------------------------------------------------------------
    def materialize_chunks(self, raw: list) -> Iterator[list[dict]]:
        """Messages from a drained slice of the flat buffer, in chunks of at most _CHUNK.

        Chunking keeps the dicts short-lived (encoded and dropped chunk by chunk), so the garbage collector never
        has a large young heap to walk while the user's code runs.
        """
        out: list[dict] = []
        i, n = 0, len(raw)
        while i < n:
            item = raw[i]
            width = 1 if type(item) is dict else item.width
            try:
                out.append(self._clean(item) if width == 1 else item.materialize(raw[i:i + width], self))
            except Exception as e:  # a capture bug must not lose the rest of the batch
                self.errors += 1
                get_logger().error(f"could not build a provenance message: {type(e).__name__}: {e}")
            i += width
            if len(out) >= _CHUNK:
                yield out
                out = []
        if out:
            yield out

    def sanitize(self, value: Any) -> Any:
        return sanitize(value, self.limits)

    def _clean(self, msg: dict) -> dict:
        """Sanitize the user-supplied parts of a ready message in place (same dict object stays retained)."""
        for key in ("used", "generated", "custom_metadata"):
            v = msg.get(key)
            if v is not None:
                msg[key] = sanitize_dict(v, self.limits) if type(v) is dict else self.sanitize(v)
        if msg.get("hostname", 1) is None:  # a FlowceptTask made before the host fields were known
            msg["hostname"] = self.hostname
        data = msg.get("data")
        if data is not None and type(data) is not bytes:
            msg["data"] = self.sanitize(data)
        for key in ("stdout", "stderr"):  # free text: valid UTF-8, capped, URL passwords masked
            v = msg.get(key)
            if v is not None:
                msg[key] = self.sanitize(v)
        if "telemetry_at_end" in msg and "telemetry_summary" not in msg and msg.get("type") == "task":
            # a FlowceptTask: its summary and critical tags, the snapshots moved back to the end of the document
            attach_telemetry(msg, msg.pop("telemetry_at_start", None), msg.pop("telemetry_at_end"),
                             msg.get("started_at"), msg.get("ended_at"), self)
        return msg

    def drain(self) -> int:
        """Materialize everything pending; publish it (online) and keep it encoded (retain). Returns the count.

        Without a networked MQ the collector is paused meanwhile: such a drain only builds acyclic dicts that die
        within the window (a full collection over a big pending buffer cost about 10% of a 1M-message dump). A
        drain that publishes over the network leaves it on: a slow broker must not stall collection app-wide.
        """
        from contextlib import nullcontext

        from flowcept_core.gcpause import gc_paused

        local = self.sink is None or self.sink.in_process
        if not self.host_fields:  # not given by whoever started the run: needed to build messages now
            from flowcept_core.sysinfo import host_fields

            self.set_host_fields(host_fields())
        with self._drain_lock, gc_paused() if local else nullcontext():
            items = self.items
            end = len(items)  # records appended from now on wait for the next drain
            start = count = 0
            try:
                while start < end:
                    # a window of whole records (small copies; no huge young list for the collector)
                    pos, runs = window_end(items, start, end, _WINDOW)
                    raw = items[start:pos]
                    if not local:  # the records die with raw, not at the next drop (local: a pass less, gc paused)
                        items[start:pos] = [None] * (pos - start)
                    start = pos
                    count += self._drain_window(raw, runs)
                    if len(items) - start > self.max_entries and self.extend == items.extend:  # no poll meanwhile
                        self.append, self.extend = self._append_helping, self._extend_helping
                    if start * 4 >= end:  # drop the done prefix: each drop moves at most 3x what it frees
                        del items[:start]
                        end -= start
                        start = 0
                if self.direct is not None:
                    self.direct.flush(self)
            finally:
                del items[:start]
            return count

    def _drain_window(self, raw: list, runs: list | None = None) -> int:
        if self.packed:
            return self._drain_packed(raw)
        if self.direct is not None and self.direct.active():  # see flowcept_core.direct
            return drain_direct(self, raw, self.direct)
        if self.sink is None and self.retained is not None:  # see flowcept_core.retained
            return drain_kept(self, raw, runs)  # runs: of one template's records (see window_end)
        count = 0
        for batch in self.materialize_chunks(raw):
            if self.sink is not None:
                self._publish(batch)
            if self.retained is not None:
                self.retained.add(batch)
            count += len(batch)
        return count

    def _drain_packed(self, raw: list) -> int:
        count = 0
        start, records, i, n = 0, 0, 0, len(raw)
        while i < n:
            item = raw[i]
            if type(item) is dict:
                i += 1
            else:
                i += item.width
            records += 1
            if records >= _PACKED_RECORDS or i >= n:
                try:
                    msg = pack(self, raw[start:i])
                except Exception as e:  # a capture bug must not lose the rest of the window
                    self.errors += 1
                    get_logger().error(f"could not pack provenance records: {type(e).__name__}: {e}")
                else:
                    self._publish([msg])
                    count += msg["count"]
                start, records = i, 0
        return count

    @property
    def retained_count(self) -> int:
        return self.retained.count if self.retained is not None else 0

    def track(self, msg: dict) -> None:
        """Remember msg, so update_message() can change it later (the workflow message at stop)."""
        if self.retained is not None:
            self.retained.pin(msg)

    def update_message(self, msg: dict, changes: dict) -> None:
        """Apply changes to a tracked message's retained copy (after draining it). The published dict may be in a
        consumer's hands and is never mutated."""
        self.drain()
        if self.retained is not None:
            with self._drain_lock:
                self.retained.replace(msg, {**msg, **changes})

    # flusher ------------------------------------------------------------------------
    def hold(self) -> None:
        """Keep drains waiting until release(). The thread finishing the run's start calls start_flusher() (starting
        a thread waits until it runs: not the caller's time) and later release(). The run begins regulated: past the
        bound, producers wait for release() (see _regulate)."""
        self._drain_lock.acquire()
        self._held = True
        if self._thread is None:
            self.append, self.extend = self._append_helping, self._extend_helping

    def release(self) -> None:
        self._held = False
        self._drain_lock.release()

    def start_flusher(self) -> None:
        if self._thread is None:
            # begin regulated: a program that calls at full speed right after start() stays within the bound from
            # its first call; the flusher's first quiet poll (a few ms) brings the fast path back
            self.append, self.extend = self._append_helping, self._extend_helping
            self._thread = threading.Thread(target=self._flush_loop, daemon=True,
                                            name=f"flowcept-flusher-{self.workflow_id[:8]}")
            self._thread.start()

    def start(self) -> None:
        """Deliver spills a dead producer left, open the stream, start the flusher thread (daemon; stopped by
        close()) if hold() did not."""
        if self.spill is not None:
            try:
                self._adopt_orphan_spills()
            except Exception as e:
                get_logger().error(f"could not deliver spilled messages of a previous process: {e}")
        if self.sink is not None:
            self._publish([{"type": CONTROL_TYPE, "info": START_OF_STREAM, "producer_id": self.producer_id,
                            "workflow_id": self.workflow_id}])
        self.start_flusher()

    def _flush_loop(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(_POLL_SECS):
            online = self.sink is not None  # the sink may be attached after the flusher started
            every = self.flush_secs if online else _OFFLINE_DRAIN_SECS
            # online: a batch's worth is published at once; offline: at the bound or the timer (nobody waits, and a
            # drain competing with the caller's loop for the interpreter would slow it down)
            enough = self.batch_size if online else self.max_entries
            now = time.monotonic()
            pending = len(self.items)
            self._regulate(pending)
            if self._held:
                continue
            if pending >= enough or now - last >= every:
                last = now
                try:
                    self.drain()
                except Exception as e:
                    get_logger().error(f"flusher: {type(e).__name__}: {e}")

    def snapshot(self) -> list[dict]:
        """Every message of this run when retaining (the newest as shallow copies of the kept dicts, older ones
        read back from the spool); otherwise the messages not delivered yet (built, not taken off the buffer)."""
        if self.retained is None:
            with self._drain_lock:
                pending = self.items[:]
            return [m for chunk in self.materialize_chunks(pending) for m in chunk]
        self.drain()
        with self._drain_lock:
            return self.retained.messages()

    def close_open_loops(self) -> None:
        for loop in list(self.open_loops):
            try:
                loop._close()
            except Exception as e:
                get_logger().error(f"closing an unfinished loop failed: {e}")

    def close(self, timeout: float | None = None, final: Any = ()) -> int:
        """Flush everything, publish final (not retained), the end-of-stream marker; close the sink. Returns the
        number of messages the MQ did not acknowledge."""
        if self._closed:
            return 0
        self.close_open_loops()
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.drain()
        self._closed = True
        # a call still running when stop() began is reported, not silently dropped
        self.append = self._late_append
        self.extend = self._late_append
        self.drain()
        return self.close_delivery(timeout, final) if self.sink is not None else 0

    # files ----------------------------------------------------------------------------
    def dump(self, path: str, final: bool = False) -> int:
        """Write the retained messages to path as JSONL (overwriting it). Returns the count.

        final (the buffer file at stop): the spool becomes the file by a rename when it lies beside it.
        """
        self.drain()
        if self.retained is None:
            get_logger().warning("dump_buffer: this run does not keep messages "
                                 "(online mode with project.dump_buffer.enabled: false); the file will be empty")
            return Retained().write_to(path)
        with self._drain_lock:
            return self.retained.write_to(path, final=final)
