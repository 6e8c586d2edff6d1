"""DocumentInserter: the consumer that persists task and workflow messages into every enabled store.

It reads the persistence group of the MQ (``mq.group_id``, default "flowcept_persistence"), merges messages per
document id in memory, and writes a batch when ``db_buffer.buffer_size`` documents are pending or
``db_buffer.insertion_buffer_time_secs`` have passed. Messages are acknowledged to the MQ only after every store
accepted the batch; a store that fails keeps the batch for retry (with backoff) and nothing is acknowledged, so a
crash loses nothing (the MQ redelivers). Start/end-of-stream markers tell it when the producers are done.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from flowcept_core.consumers.base import BaseConsumer
from flowcept_core.consumers.streams import StreamTracker
from flowcept_core.documents import ID_FIELDS, collection_of, merge_documents
from flowcept_core.gcpause import gc_paused

__all__ = ["DocumentInserter", "persistence_group", "acquire_inserter", "release_inserter"]

_RETRY_SECS = (0.2, 0.5, 1.0, 2.0, 5.0)
_MAX_BATCH = 20_000  # documents per write at most


def persistence_group(settings: Any) -> str:
    """The MQ group the DocumentInserters share (producers create it at start so nothing is missed)."""
    return settings.get("mq.group_id") or "flowcept_persistence"


class DocumentInserter(BaseConsumer):
    """Persists messages into the stores enabled in settings (or the stores given)."""

    def __init__(self, settings: Any = None, mq: Any = None, stores: list[Any] | None = None,
                 group: str | None = None, enrich: bool | None = None):
        super().__init__(settings, mq)
        if self._settings is None:
            from flowcept_core.settings import get_settings

            self._settings = get_settings()
        settings = self._settings
        if stores is None:
            from flowcept_core.stores import enabled_store_names, open_store

            stores = [open_store(settings, name) for name in enabled_store_names(settings)]
        self.stores = stores
        self.group = group or persistence_group(settings)
        db_buffer = settings.section("db_buffer")
        self.buffer_size = int(db_buffer.get("buffer_size") or 50)
        self.flush_secs = float(db_buffer.get("insertion_buffer_time_secs") or 5)
        self.remove_empty = bool(db_buffer.get("remove_empty_fields", False))
        self.enrich = settings.get("project.enrich_messages", True) if enrich is None else enrich
        self.tracker = StreamTracker()
        self.stored = 0
        self.failed_writes = 0
        self._pending: dict[str, dict[str, dict]] = {}  # collection -> id -> merged document
        self._pending_count = 0
        self._first_pending = 0.0
        self._flush_now = False
        self._shared_dicts = True  # until the MQ is known (see _open): copy, to be safe
        self._progress = threading.Condition()

    # BaseConsumer ---------------------------------------------------------------------------
    def _open(self) -> None:
        if self._mq is None:
            from flowcept_core.mq import open_mq

            self._mq = open_mq(self._settings)
        self._shared_dicts = bool(getattr(self._mq, "in_process", False))
        self._mq.ensure_group(self.group)
        self._subscription = self._mq.subscribe(group=self.group)

    def message_handler(self, msg_obj: dict) -> bool:
        """Queue one message for storage (stream markers update the tracker). Always continues."""
        self._dispatch([msg_obj])
        return True

    def _dispatch(self, msgs: list) -> bool:
        """Queue a batch of messages (one loop, no per-message method dispatch: this is the consumer's hot path)."""
        if not self._pending_count:
            self._first_pending = time.monotonic()
        pending = self._pending
        arrived = self.tracker.arrived
        for msg in msgs:
            if type(msg) is not dict:
                self.logger.error(f"DocumentInserter: skipped a malformed message of type {type(msg).__name__}")
                continue
            coll = collection_of(msg)
            if coll is None:
                if self.tracker.observe(msg) and msg.get("info") == "end_of_stream":
                    self._flush_now = True  # a producer is done: store its tail now, not at the next timer tick
                    self._report_missing(msg.get("workflow_id"))
                continue
            wf = msg.get("workflow_id")
            arrived[wf] = arrived.get(wf, 0) + 1
            try:
                doc = self._prepare(coll, msg)
            except Exception as e:
                self.logger.error(f"DocumentInserter: skipped a message it could not prepare: {e}")
                continue
            bucket = pending.get(coll)
            if bucket is None:
                bucket = pending[coll] = {}
            ident = doc[ID_FIELDS[coll]]
            old = bucket.get(ident)
            if old is None:
                bucket[ident] = doc
                self._pending_count += 1
            else:
                bucket[ident] = merge_documents(old, doc)
        return True

    def _report_missing(self, workflow_id: Any) -> None:
        """At a producer's end of stream: log how many messages its workflow's producers sent that never came."""
        lost = self.tracker.shortfall(workflow_id)
        if lost:
            self.logger.error(f"workflow {workflow_id}: {lost} messages its producers published never reached the "
                              "DocumentInserter (the MQ lost them, e.g. a broker restarted without persistence, or "
                              "they were malformed); see DocumentInserter.tracker.missing")

    def _prepare(self, coll: str, msg: dict) -> dict:
        """msg ready to store. The in-process MQ hands the same dict to every consumer, so it is copied; a networked
        MQ decodes a fresh dict for this consumer alone, which is used as it is."""
        doc = dict(msg) if self._shared_dicts else msg
        id_field = ID_FIELDS[coll]
        if not doc.get(id_field):
            from flowcept_core.ids import new_id

            doc[id_field] = new_id()
        if coll == "tasks":
            if "status" not in doc and doc.get("ended_at") is not None:
                doc["status"] = "FINISHED"
            for flag in ("finished", "error"):  # one status field, no duplicated flags
                doc.pop(flag, None)
            if self.enrich:
                doc.setdefault("registered_at", time.time())
        if self.remove_empty:
            doc = {k: v for k, v in doc.items() if v not in (None, "", {}, [])}
        return doc

    def default_thread_target(self) -> None:
        """Receive, buffer, write, acknowledge; until stopped (flushing what is pending first)."""
        sub = self._subscription
        try:
            idle = True
            while not self._stop_event.is_set():
                # Idle: wait for messages. Busy: take what is waiting with the collector paused until it is stored
                # (see flowcept_core.gcpause): decoded messages and pending documents are acyclic and freed by the
                # write, and otherwise trigger full collections over all they hold (10% of persisting 100k tasks).
                # Never paused while blocked waiting, which would stall collection for the whole application.
                msgs = sub.receive(min(0.1, self.flush_secs)) if idle else None
                stored = True
                with gc_paused():
                    if msgs is None:
                        msgs = sub.receive(0)
                    idle = not msgs
                    while msgs:
                        self._dispatch(msgs)
                        # under load, take what is already waiting before writing: one transaction (and one
                        # fsync) for many documents instead of one per db_buffer.buffer_size
                        msgs = sub.receive(0) if self._pending_count < _MAX_BATCH else None
                    if self._pending_count and (self._flush_now or self._pending_count >= self.buffer_size
                                                or time.monotonic() - self._first_pending >= self.flush_secs):
                        stored = self._flush_once(_RETRY_SECS[0])
                if not stored:
                    self._flush_with_retry(failed=1)  # backoff and retries outside the pause
                self._flush_now = False
                if not self._pending_count:
                    sub.ack()  # everything received so far is stored
                with self._progress:
                    self._progress.notify_all()
            self._drain_before_exit(sub)
        finally:
            sub.close()
            self._stop_event.set()
            with self._progress:
                self._progress.notify_all()

    def _drain_before_exit(self, sub: Any) -> None:
        msgs = sub.receive(0)
        if msgs:
            self._dispatch(msgs)
        if self._pending_count and self._flush_with_retry(give_up_after=30.0):
            sub.ack()
        elif not self._pending_count:
            sub.ack()

    # writing ---------------------------------------------------------------------------------------
    def flush(self) -> None:
        """Write every pending document to every store (raises the store's error; pending kept on failure)."""
        for coll, bucket in list(self._pending.items()):
            if not bucket:
                continue
            docs = list(bucket.values())
            for store in self.stores:
                store.upsert(coll, docs)
            self.stored += len(docs)
            self._pending_count -= len(docs)
            del self._pending[coll]
        self._pending_count = max(self._pending_count, 0)

    def _flush_once(self, retry_in: float) -> bool:
        """One attempt at flush(); a failure is logged and counted, the documents stay pending."""
        try:
            self.flush()
            return True
        except Exception as e:
            self.failed_writes += 1
            self.logger.error(f"storing {self._pending_count} documents failed ({type(e).__name__}: {e}); "
                              f"kept for retry in {retry_in}s, nothing acknowledged to the MQ")
            return False

    def _flush_with_retry(self, give_up_after: float | None = None, failed: int = 0) -> bool:
        """flush() until it succeeds, with backoff between attempts (failed: attempts already made); False when
        stopped meanwhile or give_up_after seconds have passed."""
        start = time.monotonic()
        attempt = failed
        while True:
            if attempt:  # a retry: back off first
                if give_up_after is not None and time.monotonic() - start > give_up_after:
                    self.logger.error(f"giving up on {self._pending_count} documents; the MQ keeps them "
                                      "unacknowledged for the next DocumentInserter")
                    return False
                wait = _RETRY_SECS[min(attempt - 1, len(_RETRY_SECS) - 1)]
                if self._stop_event.wait(wait) and give_up_after is None:
                    return False
            with gc_paused():
                if self._flush_once(_RETRY_SECS[min(attempt, len(_RETRY_SECS) - 1)]):
                    return True
            attempt += 1

    # waiting ---------------------------------------------------------------------------------------
    def wait_for_producer(self, producer_id: str, timeout: float) -> bool:
        """Block until producer_id's end-of-stream marker was seen and everything before it is stored."""
        deadline = time.monotonic() + timeout
        with self._progress:
            while True:
                if producer_id in self.tracker.ended and not self._pending_count:
                    return True
                left = deadline - time.monotonic()
                if left <= 0 or (self._stop_event.is_set() and not self.is_running):
                    return False
                self._progress.wait(min(left, 0.2))


# One inserter per process and configuration, shared by the Flowcept instances that start persistence: two inserters
# in one group would split the messages and neither could tell when a given producer is done.
_shared: dict[tuple, list] = {}  # key -> [inserter, references]
_shared_lock = threading.Lock()


def _key(settings: Any) -> tuple:
    from flowcept_core.stores import enabled_store_names

    return (settings.get("mq.type"), settings.get("mq.channel"), persistence_group(settings),
            tuple(enabled_store_names(settings)))


def acquire_inserter(settings: Any, daemon: bool = True) -> DocumentInserter:
    """Start (or join) this process's DocumentInserter for settings. daemon=False keeps the process alive while it
    runs (a persistence-only process started with check_safe_stops=False)."""
    key = _key(settings)
    with _shared_lock:
        entry = _shared.get(key)
        if entry is None or not entry[0].is_running:
            inserter = DocumentInserter(settings)
            inserter.start(threaded=True, daemon=daemon)
            entry = _shared[key] = [inserter, 0]
        entry[1] += 1
        return entry[0]


def release_inserter(inserter: DocumentInserter, timeout: float = 30.0) -> None:
    """Drop one reference; the last one stops the inserter after it stored what it received."""
    with _shared_lock:
        for key, entry in list(_shared.items()):
            if entry[0] is inserter:
                entry[1] -= 1
                if entry[1] > 0:
                    return
                del _shared[key]
                break
    inserter.stop_consumption(timeout)
