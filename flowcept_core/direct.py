"""The default pipeline's short cut: task records written straight into the local store, without the MQ hop.

With the in-process MQ and a local store (LMDB) in one process, publishing a task message only hands it to this
process's DocumentInserter thread, which checks it, copies it, merges it by id and writes it. A message built from a
capture record is valid and has a fresh id by construction, so the drain writes such messages itself, what one drain
took (up to 16,384 messages) per write transaction, and publishes only the rest (the workflow message, FlowceptTask
and adapter messages, stream markers) as before.

Each such message is JSON-encoded once (orjson): the encoding without its telemetry snapshots is the start of both its
buffer-file line (the snapshots' JSON, encoded once per snapshot, appended) and the value the store keeps (references
to the snapshots, stored once, appended by the store: ``upsert_json``). A message orjson refuses as it is (a bytes
value) is kept and stored the general way.

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

_BATCH = 16_384  # documents per write transaction at most: each commit is an fsync


class DirectStore:
    """Where a run writes its task records directly: this process's DocumentInserter and its in-process MQ."""

    def __init__(self, inserter: Any, mq: Any, group: str):
        self.inserter = inserter
        self.mq = mq
        self.group = group
        self.encoder = _Encoder()
        self.pending: list[dict] = []  # task messages built and encoded, not written yet
        self.heads: list[memoryview] = []  # their JSON without telemetry snapshots nor closing brace (see _Encoder)
        self.plain: list[dict] = []  # task messages orjson does not encode as they are

    def active(self) -> bool:
        """True when the drain may write itself: the inserter runs and no other consumer reads the MQ."""
        return self.inserter.is_running and self.mq.only_group(self.group)

    def flush(self, run: Any) -> None:
        """Write the queued documents (called at the end of each drain, under the run's drain lock, and past
        _BATCH); what the store does not take is published instead."""
        docs, heads, plain = self.pending, self.heads, self.plain
        if not docs and not plain:
            return
        self.pending, self.heads, self.plain = [], [], []
        left = self.inserter.store_now(docs, heads) if docs else []
        if plain:
            left += self.inserter.store_now(plain)
        if left:
            run._publish(left)


def drain_direct(run: Any, raw: list, direct: DirectStore) -> int:
    """Build the messages of a window of the flat buffer and keep them (retained); those built from records are
    JSON-encoded once, for the buffer file and the store alike, and queued for the store; the others are
    published. Returns the number of messages."""
    retained = run.retained
    encode = direct.encoder.encode
    docs, heads, plain, msgs = direct.pending, direct.heads, direct.plain, []
    lines: list = []  # buffer-file lines of encoded messages (two pieces each), not handed to retained yet
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
        except Exception as e:  # a capture bug must not lose the rest of the window
            if type(item) is not dict:
                i += item.width
            run.errors += 1
            get_logger().error(f"could not build a provenance message: {type(e).__name__}: {e}")
            continue
        count += 1
        if type(item) is not dict:
            if encode(msg, lines, heads):
                docs.append(msg)
                continue
            plain.append(msg)  # not JSON as it is: kept and stored the general way
        if retained is not None:
            if lines:
                retained.add_encoded(lines, len(lines) // 2)
                lines = []
            retained.add([msg])
    if lines and retained is not None:
        retained.add_encoded(lines, len(lines) // 2)
    if msgs:
        run._publish(msgs)
    if len(docs) + len(plain) >= _BATCH:
        direct.flush(run)
    return count


class _Encoder:
    """One JSON encoding of a task message for both the buffer file and the store: the message without its
    telemetry snapshots (``body``). Its buffer-file line is the body without its closing brace (``head``) followed by
    a tail holding the snapshots' JSON (encoded once per pair of snapshots, shared by the lines of every task that
    shares them, written with writev: nothing is copied per line); the store appends its own references to the
    snapshots to the same head (see the lmdb store's upsert_json)."""

    def __init__(self) -> None:
        import orjson

        self._dumps = orjson.dumps
        self._errors = (TypeError, orjson.JSONEncodeError)
        self._snapshots: dict[int, tuple[dict, bytes]] = {}  # id(snapshot) -> (it, its JSON)
        self._last: tuple[Any, Any, bytes] = (None, None, b"}\n")  # the last pair of snapshots seen, their tail

    def encode(self, msg: dict, pieces: list, heads: list) -> bool:
        """Append msg's buffer-file line (as pieces) and head to pieces and heads; False when orjson refuses a value
        as it is."""
        tel0 = msg.get("telemetry_at_start")
        tel1 = msg.get("telemetry_at_end")
        last = self._last
        if tel0 is not last[0] or tel1 is not last[1] or tel0 is None:
            if type(tel0) is not dict or type(tel1) is not dict:  # no telemetry (or not a snapshot): one dumps
                if tel0 is not None or tel1 is not None:
                    return False
                try:
                    body = self._dumps(msg)
                except self._errors:
                    return False
                head = memoryview(body)[:-1]
                pieces += (head, b"}\n")
                heads.append(head)
                return True
            try:
                start = self._snapshot(tel0)
                end = start if tel1 is tel0 else self._snapshot(tel1)
            except self._errors:
                return False
            tail = b"".join((b',"telemetry_at_start":', start, b',"telemetry_at_end":', end, b"}\n"))
            last = self._last = (tel0, tel1, tail)
        del msg["telemetry_at_start"], msg["telemetry_at_end"]  # the last two fields: re-added below, still last
        try:
            body = self._dumps(msg)
        except self._errors:
            return False
        finally:
            msg["telemetry_at_start"] = tel0
            msg["telemetry_at_end"] = tel1
        head = memoryview(body)[:-1]
        pieces += (head, last[2])
        heads.append(head)
        return True

    def _snapshot(self, snap: dict) -> bytes:
        entry = self._snapshots.get(id(snap))
        if entry is None or entry[0] is not snap:
            if len(self._snapshots) >= 256:
                self._snapshots.clear()
            entry = self._snapshots[id(snap)] = (snap, self._dumps(snap))
        return entry[1]
