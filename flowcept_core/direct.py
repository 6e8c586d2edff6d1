"""The default pipeline's short cut: task records written straight into the local store, without the MQ hop.

With the in-process MQ and a local store (LMDB) in one process, publishing a task message only hands it to this
process's DocumentInserter thread, which checks it, copies it, merges it by id and writes it. A message built from a
capture record is valid and has a fresh id by construction, so the drain writes such messages itself, a window of
records (up to 16,384) per write transaction, and publishes only the rest (the workflow message, FlowceptTask and
adapter messages, stream markers) as before.

The short cut is taken drain by drain, only while nothing but the persistence group reads the in-process MQ and the
inserter runs: a consumer subscribing mid-run sees every message from its next drain on, as it would on the MQ. A
batch the store does not take (a refused document, a full disk) is published instead, so the inserter retries it and
dead-letters what the store refuses: nothing is dropped. The drain writes synchronously, so producers past
``mq.max_pending_messages`` wait for the store as they waited for the MQ (backpressure), and everything a drain took
is stored before the run's end-of-stream marker is published.
"""

from __future__ import annotations

from typing import Any

from flowcept_core.logger import get_logger

__all__ = ["DirectStore", "drain_direct"]

_CHUNK = 256  # messages per retained chunk (as in the MQ path)
_BATCH = 16_384  # documents per write transaction at most: each commit is an fsync


class DirectStore:
    """Where a run writes its task records directly: this process's DocumentInserter and its in-process MQ."""

    def __init__(self, inserter: Any, mq: Any, group: str):
        self.inserter = inserter
        self.mq = mq
        self.group = group
        self.pending: list[dict] = []  # task messages built, not written yet

    def active(self) -> bool:
        """True when the drain may write itself: the inserter runs and no other consumer reads the MQ."""
        return self.inserter.is_running and self.mq.only_group(self.group)

    def add(self, run: Any, docs: list[dict]) -> None:
        """Queue docs (task messages of one window) for the next write; written at once past _BATCH."""
        self.pending.extend(docs)
        if len(self.pending) >= _BATCH:
            self.flush(run)

    def flush(self, run: Any) -> None:
        """Write the queued documents (called at the end of each drain, under the run's drain lock); what the store
        does not take is published instead."""
        docs, self.pending = self.pending, []
        if docs:
            left = self.inserter.store_now(docs)
            if left:
                run._publish(left)


def drain_direct(run: Any, raw: list, direct: DirectStore) -> int:
    """Build the messages of a window of the flat buffer; keep them (retained), write those built from records to
    the store and publish the others. Returns the number of messages."""
    retained = run.retained
    docs: list[dict] = []
    msgs: list[dict] = []
    out: list[dict] = []
    count = 0
    i, n = 0, len(raw)
    while i < n:
        item = raw[i]
        try:
            if type(item) is dict:
                i += 1
                msg = run._clean(item)
                msgs.append(msg)
            else:
                width = item.width
                msg = item.materialize(raw[i : i + width], run)
                i += width
                docs.append(msg)
        except Exception as e:  # a capture bug must not lose the rest of the window
            if type(item) is not dict:
                i += item.width
            run.errors += 1
            get_logger().error(f"could not build a provenance message: {type(e).__name__}: {e}")
            continue
        out.append(msg)
        if len(out) >= _CHUNK:
            if retained is not None:
                retained.add(out)  # encoded before the store adds registered_at
            count += len(out)
            out = []
    if out:
        if retained is not None:
            retained.add(out)
        count += len(out)
    if msgs:
        run._publish(msgs)
    if docs:
        direct.add(run, docs)
    return count
