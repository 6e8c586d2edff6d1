"""DocumentInserter: the consumer that persists task and workflow messages into every enabled store.

It reads the persistence group of the MQ (``mq.group_id``, default "flowcept_persistence"), merges messages per
document id in memory, and writes a batch when ``db_buffer.buffer_size`` documents are pending or
``db_buffer.insertion_buffer_time_secs`` have passed. Messages are acknowledged to the MQ only after every store
accepted the batch; a store that fails keeps the batch for retry (with backoff) and nothing is acknowledged, so a
crash loses nothing (the MQ redelivers). Start/end-of-stream markers tell it when the producers are done.

It never dies on a message: a message that cannot be stored (not a dict, no string id, ``used: 5``, a timestamp
that is not a number, an end-of-stream marker whose message_count is not a number; see
flowcept_core.deadletter.message_problem), a batch the MQ could not decode or authenticate, and a document the
store refuses on its own are written to the ``dead_letters`` collection with the reason, and everything else is
stored and acknowledged. Any other failure of its thread is logged and the thread resumes with a fresh
subscription (what was received and not acknowledged is delivered again).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from flowcept_core.constants import END_OF_STREAM, FINISHED
from flowcept_core.consumers.base import BaseConsumer
from flowcept_core.consumers.streams import StreamTracker
from flowcept_core.consumers.writer import write_isolating
from flowcept_core.deadletter import DEAD_LETTER_ID, DEAD_LETTERS, dead_letter, message_problem
from flowcept_core.documents import ID_FIELDS, collection_of, merge_documents
from flowcept_core.gcpause import gc_paused
from flowcept_core.runtime import RUNTIME
from flowcept_core.stores import sync_stores
from flowcept_core.wire import rejections, wire_codec

__all__ = ["DocumentInserter", "persistence_group", "acquire_inserter", "release_inserter"]

_RETRY_SECS = (0.2, 0.5, 1.0, 2.0, 5.0)
_MAX_BATCH = 20_000  # documents per write at most
_LOGGED_PER_WRITE = 10  # dead letters logged one by one per write; the rest are counted in one line
_REFUSE_ALL_AFTER = 3  # failed attempts before a batch whose every document a store refuses is dead-lettered


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
        self._count_lock = threading.Lock()  # stored is also counted by drains writing directly (store_now)
        self.failed_writes = 0
        self.dead_lettered = 0  # messages and documents written to the dead_letters collection
        self._codec = wire_codec(settings)  # checks signatures of what the subscription decodes on this thread
        self._rejected: list[tuple[str, bytes]] = []  # batches the wire layer rejected, to dead-letter
        self._attempts = 0  # consecutive failed flushes
        self._unlogged = 0  # dead letters not logged one by one since the last write (a flood is summarized)
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
        self._shared_dicts = self._mq.in_process
        self._mq.ensure_group(self.group)
        self._subscription = self._subscribe()

    def _subscribe(self) -> Any:
        return self._mq.subscribe(group=self.group)

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
            try:
                if not isinstance(msg, dict):
                    self._reject(f"a message must be a dict, got {type(msg).__name__}", msg)
                    continue
                coll = collection_of(msg)
                problem = message_problem(coll, msg, ID_FIELDS[coll] if coll is not None else None)
                if problem is not None:
                    self._reject(problem, msg)
                    continue
                if coll is None:
                    if self.tracker.observe(msg) and msg.get("info") == END_OF_STREAM:
                        self._flush_now = True  # a producer is done: store its tail now, not at the next timer tick
                        self._report_missing(msg.get("workflow_id"))
                    continue
                wf = msg.get("workflow_id")
                arrived[wf] = arrived.get(wf, 0) + 1
                doc = self._prepare(coll, msg)
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
            except Exception as e:  # whatever is wrong with this message, the others go on
                self._reject(f"could not be prepared for storage: {type(e).__name__}: {e}", msg)
        return True

    def _reject(self, reason: str, raw: Any, source: str = "message") -> None:
        """Queue a dead letter for raw (stored with the next write; its MQ entry is acknowledged with the batch)."""
        try:
            doc = dead_letter(reason, raw, source)
        except Exception as e:  # never let one entry stop the consumer
            self.logger.error(f"DocumentInserter: dropped an entry it could not even dead-letter ({reason}): {e}")
            return
        if self._unlogged < _LOGGED_PER_WRITE:
            self.logger.error(f"DocumentInserter: dead-lettered an entry ({source}): {reason}")
        self._unlogged += 1
        bucket = self._pending.get(DEAD_LETTERS)
        if bucket is None:
            bucket = self._pending[DEAD_LETTERS] = {}
        if doc[DEAD_LETTER_ID] not in bucket:
            if not self._pending_count:
                self._first_pending = time.monotonic()
            bucket[doc[DEAD_LETTER_ID]] = doc
            self._pending_count += 1
        self._flush_now = True  # a poison entry is stored (and acknowledged) at once, not at the next timer tick

    def _take_rejected(self) -> None:
        """Dead-letter the batches the wire layer rejected during the last receive() (undecodable, unsigned,
        forged, or of a newer wire version); the subscription already skipped them."""
        rejected = self._rejected
        while rejected:
            reason, raw = rejected.pop(0)
            self._reject(reason, raw, source="wire")

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
        if coll == "tasks":
            if "status" not in doc and doc.get("ended_at") is not None:
                doc["status"] = FINISHED
            for flag in ("finished", "error"):  # one status field, no duplicated flags
                doc.pop(flag, None)
            if self.enrich:
                doc.setdefault("registered_at", time.time())
        if self.remove_empty:
            doc = {k: v for k, v in doc.items() if v not in (None, "", {}, [])}
        return doc

    def default_thread_target(self) -> None:
        """Receive, buffer, write, acknowledge; until stopped (flushing what is pending first).

        An unexpected error in the loop is logged and the loop resumes with a fresh subscription (the old one is
        closed, so what it received and did not acknowledge is delivered again); it never ends silently.
        """
        try:
            with rejections(self._codec) as self._rejected:
                self._supervised(self._consume)
        finally:
            self._stop_event.set()
            with self._progress:
                self._progress.notify_all()

    def _consume(self, sub: Any) -> None:
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
                    self._take_rejected()
                    while msgs:
                        self._dispatch(msgs)
                        # under load, take what is already waiting before writing: one transaction (and one
                        # fsync) for many documents instead of one per db_buffer.buffer_size
                        msgs = sub.receive(0) if self._pending_count < _MAX_BATCH else None
                        self._take_rejected()
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
            if self._stop_event.is_set():
                sub.close()

    def _drain_before_exit(self, sub: Any) -> None:
        msgs = sub.receive(0)
        self._take_rejected()
        if msgs:
            self._dispatch(msgs)
        if not self._pending_count or self._flush_with_retry(give_up_after=30.0):
            sub.ack()
        sync_stores(self.stores)  # what was stored is durable when the inserter ends

    # writing ---------------------------------------------------------------------------------------
    def store_now(self, docs: list[dict]) -> list[dict]:
        """Called by a run's drain in this process (flowcept_core.direct) with task messages built from capture records
        (valid, fresh ids): write them to every store at once, in the caller's thread. Returns the documents not
        stored (refused, or all when a store failed) for the caller to publish: this inserter retries those."""
        self.mark_registered(docs)
        if self.remove_empty:
            docs = [{k: v for k, v in doc.items() if v not in (None, "", {}, [])} for doc in docs]
        try:
            with gc_paused():
                refused = write_isolating(self.stores, "tasks", docs)
        except Exception as e:
            self.logger.error(f"storing {len(docs)} tasks directly failed ({type(e).__name__}: {e}); they go through "
                              "the MQ")
            return docs
        self.count_stored(len(docs) - len(refused))
        return [doc for doc, _ in refused]

    def count_stored(self, n: int) -> None:
        with self._count_lock:
            self.stored += n

    def mark_registered(self, docs: list[dict]) -> None:
        """Set registered_at on the documents that have none (when messages are enriched)."""
        registered = time.time() if self.enrich else None
        for doc in docs if registered is not None else ():
            doc.setdefault("registered_at", registered)

    def flush(self) -> None:
        """Write every pending document to every store; documents a store refuses become dead letters, written
        last. Raises the store's error when the store is unavailable (pending kept for a retry)."""
        refuse_all = self._attempts >= _REFUSE_ALL_AFTER
        for coll in sorted(self._pending, key=lambda c: c == DEAD_LETTERS):  # dead letters after what makes them
            bucket = self._pending[coll]
            docs = list(bucket.values())
            refused = write_isolating(self.stores, coll, docs, refuse_all) if docs else []
            self._pending_count -= len(docs)
            del self._pending[coll]
            self._count_written(coll, docs, refused)
        if self._pending.get(DEAD_LETTERS):  # dead letters of refused documents
            docs = list(self._pending.pop(DEAD_LETTERS).values())
            self._pending_count -= len(docs)
            self._count_written(DEAD_LETTERS, docs, write_isolating(self.stores, DEAD_LETTERS, docs, refuse_all=True))
        self._pending_count = max(self._pending_count, 0)
        if self._unlogged > _LOGGED_PER_WRITE:
            self.logger.error(f"DocumentInserter: {self._unlogged - _LOGGED_PER_WRITE} more entries were dead-lettered "
                              "(Flowcept.db.dead_letters() lists them with their reasons)")
        self._unlogged = 0

    def _count_written(self, coll: str, docs: list[dict], refused: list[tuple[dict, BaseException]]) -> None:
        """Count what a write stored; dead-letter what it refused. A refused dead letter (made storable, so the store
        itself is failing) is kept pending and the error raised: retried like an unavailable store, never dropped."""
        if coll != DEAD_LETTERS:
            with self._count_lock:
                self.stored += len(docs) - len(refused)
            for doc, err in refused:
                self._reject(f"the store refused this {coll[:-1]}: {type(err).__name__}: {err}", doc, "store")
            return
        self.dead_lettered += len(docs) - len(refused)
        if refused:
            bucket = self._pending.setdefault(DEAD_LETTERS, {})
            for doc, _ in refused:
                bucket[doc[DEAD_LETTER_ID]] = doc
            self._pending_count += len(refused)
            raise refused[0][1]

    def _flush_once(self, retry_in: float) -> bool:
        """One attempt at flush(); a failure is logged and counted, the documents stay pending."""
        try:
            self.flush()
            self._attempts = 0
            return True
        except Exception as e:
            self.failed_writes += 1
            self._attempts += 1
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
_shared = RUNTIME.inserters  # key -> [inserter, references]; cleared in place, never replaced
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
