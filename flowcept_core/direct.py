"""The default pipeline's short cut: task records written straight into the local store, without the MQ hop.

With the in-process MQ and a local store (LMDB) in one process, publishing a task message only hands it to this
process's DocumentInserter thread, which checks it, copies it, merges it by id and writes it. A message built from a
capture record is valid and has a fresh id by construction, so the drain writes such messages itself, what one drain
took (up to 16,384 messages) per write transaction, and publishes only the rest (the workflow message, FlowceptTask
and adapter messages, stream markers) as before.

Each such task is JSON-encoded once (orjson), without its telemetry snapshots and closing brace (its *head*): the head
starts both its buffer-file line (followed by a tail holding the snapshots' JSON, built once per pair of snapshots and
shared; a drain's lines are joined and written on the buffer spool's writer thread) and the value the store keeps
(followed by references to the snapshots, stored once: ``upsert_json``). The common record (positional JSON-scalar
arguments and result, no error, one snapshot) is encoded straight from the record, without building its message
(_Encoder.encode_run, a loop's consecutive calls at once: the same bytes; the simplest loops column by column,
flowcept_core.direct_columns); the store is then handed only what it reads besides the head. A message orjson
refuses as it is (a bytes value) is kept and stored the general way.

The short cut is taken drain by drain, only while nothing but the persistence group reads the in-process MQ and the
inserter runs: a consumer subscribing mid-run sees every message from its next drain on, as it would on the MQ. A
batch the store does not take as JSON is stored again as whole messages (rebuilt from the heads) the usual way, which
isolates a refused document; what is still not stored (a full disk) is published instead, so the inserter retries it
and dead-letters what the store refuses: nothing is dropped. The drain writes synchronously, so producers past
``mq.max_pending_messages`` wait for the store as they waited for the MQ (backpressure), and everything a drain took
is stored before the run's end-of-stream marker is published.
"""

from __future__ import annotations

from flowcept_core.direct_columns import encode_columns
from flowcept_core.gcpause import gc_paused
from flowcept_core.logger import get_logger
from flowcept_core.serialize import all_plain as _all_plain

TYPE_CHECKING = False  # typing is not imported at run time (see flowcept_core.capture.context)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["DirectStore", "drain_direct"]

_INF = float("inf")
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
        self.runs: list[tuple[dict, list[bytes], list[bytes]]] = []  # loops encoded column by column (direct_columns)

    def active(self) -> bool:
        """True when the drain may write itself: the inserter runs and no other consumer reads the MQ."""
        return self.inserter.is_running and self.mq.only_group(self.group)

    def flush(self, run: Any) -> None:
        """Write the queued documents (called at the end of each drain, under the run's drain lock, and past
        _BATCH); what the store does not take is published instead."""
        docs, heads, plain, runs = self.pending, self.heads, self.plain, self.runs
        if not docs and not plain and not runs:
            return
        self.pending, self.heads, self.plain, self.runs = [], [], [], []
        left = self._store(docs, heads, runs) if docs or runs else []
        if plain:
            left += self.inserter.store_now(plain)
        if left:
            run._publish(left)

    def _store(self, docs: list[dict], heads: list, runs: list) -> list[dict]:
        """Store documents given with their heads (the stores' upsert_json: heads are their JSON without telemetry
        snapshots, registered_at and closing brace) and runs; when that fails, as whole messages (rebuilt from their
        heads: some documents hold only what the store reads besides the head) the usual way, which isolates what a
        store refuses. Returns what is left to publish."""
        inserter = self.inserter
        stores = inserter.stores
        if not inserter.remove_empty and all(hasattr(store, "upsert_json") for store in stores):
            inserter.mark_registered(docs)
            inserter.mark_registered([shared for shared, _, _ in runs])
            try:
                with gc_paused():
                    for store in stores:
                        if runs and getattr(store, "json_runs", False):
                            store.upsert_json("tasks", docs, heads, runs)
                        else:
                            store.upsert_json("tasks", *_with_runs(docs, heads, runs))
                inserter.count_stored(len(docs) + sum(len(keys) for _, keys, _ in runs))
                return []
            except Exception:  # stored the usual way below, which reports and isolates what a store refuses
                pass
        docs, heads = _with_runs(docs, heads, runs)
        return inserter.store_now([_rebuild(doc, head) for doc, head in zip(docs, heads, strict=True)])


def _with_runs(docs: list[dict], heads: list, runs: list) -> tuple[list[dict], list]:
    """docs and heads followed by the documents of runs, each its own dict (the shared fields and its id)."""
    if not runs:
        return docs, heads
    docs, heads = list(docs), list(heads)
    for shared, keys, run_heads in runs:
        docs += ({**shared, "task_id": key.decode("utf-8", "surrogatepass")} for key in keys)
        heads += run_heads
    return docs, heads


def _rebuild(doc: dict, head: Any) -> dict:
    """The whole message of a document queued with its head (its JSON without snapshots, registered_at and closing
    brace): what the head says, then registered_at and the snapshots the document holds."""
    import orjson

    msg = orjson.loads(bytes(head) + b"}")
    for key in ("registered_at", "telemetry_at_start", "telemetry_at_end"):
        if key in doc:
            msg[key] = doc[key]
    return msg


def drain_direct(run: Any, raw: list, direct: DirectStore) -> int:
    """Build the messages of a window of the flat buffer and keep them (retained); those built from records are
    JSON-encoded once, for the buffer file and the store alike, and queued for the store; the others are
    published. Returns the number of messages."""
    retained = run.retained
    encode = direct.encoder.encode
    encode_run = direct.encoder.encode_run
    fast = not direct.inserter.remove_empty
    docs, heads, plain, runs, msgs = direct.pending, direct.heads, direct.plain, direct.runs, []
    lines: list = []  # buffer-file lines of encoded messages (two pieces each), not handed to retained yet
    count = 0
    i, n = 0, len(raw)
    while i < n:
        item = raw[i]
        at = i
        try:
            if type(item) is dict:
                i += 1
                msg = run._clean(item)
                msgs.append(msg)
            else:
                width = item.width
                if fast:  # consecutive common records of one template (a loop's calls), in one tight loop
                    j = encode_run(item, raw, i, run, lines, heads, docs, runs)
                    if j != i:
                        count += (j - i) // width
                        i = j
                        continue
                rec = raw[i : i + width]
                i += width
                msg = item.materialize(rec, run)
        except Exception as e:  # a capture bug must not lose the rest of the window
            i = at + (1 if type(item) is dict else item.width)
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
    if len(docs) + len(plain) + sum(len(keys) for _, keys, _ in runs) >= _BATCH:
        direct.flush(run)
    return count


class _Encoder:
    """One JSON encoding of a task message for both the buffer file and the store: the message without its
    telemetry snapshots (``body``). Its buffer-file line is the body without its closing brace (``head``) followed by
    a tail holding the snapshots' JSON (encoded once per pair of snapshots, shared by the lines of every task that
    shares them); the store appends its own references to the
    snapshots to the same head (see the lmdb store's upsert_json)."""

    def __init__(self) -> None:
        import orjson

        self._dumps = orjson.dumps
        self._errors = (TypeError, orjson.JSONEncodeError)
        self._snapshots: dict[int, tuple[dict, bytes]] = {}  # id(snapshot) -> (it, its JSON)
        self._last: tuple[Any, Any, bytes] = (None, None, b"}\n")  # the last pair of snapshots seen, their tail
        self._shapes: dict[int, tuple[Any, _Shape | None]] = {}  # id(template) -> (it, its shape or None)
        self.no_columns: tuple[Any, int] = (None, 0)  # see direct_columns.encode_columns

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

    def encode_run(self, template: Any, raw: list, i: int, run: Any, pieces: list, heads: list, docs: list,
                   runs: list | None = None) -> int:
        """Encode the records of template from raw[i] on, while they are of the common kind (a decorated function
        with positional JSON-scalar arguments, a JSON-scalar or no result, no error, one telemetry snapshot or none),
        without building their messages: the bytes ``encode(template.materialize(rec, run))`` gives, appended to
        pieces and heads; the fields the store reads besides the head (id, indexed fields, snapshots; see the lmdb
        store's upsert_json) appended to docs. What holds for every record of a template is checked once. Returns
        the index of the first record not encoded (i itself when it is not of that kind: the caller builds it).
        runs given: a loop of the simplest records is encoded column by column, handed over as runs
        (flowcept_core.direct_columns)."""
        shape = self._shapes.get(id(template))
        if shape is None or shape[0] is not template:
            shape = self._shapes[id(template)] = (template, _shape(template, run))
        shape = shape[1]
        limits = run.limits
        if shape is None or (template.safe_for is not limits.redact and template.has_secret_params(limits.redact)):
            return i
        if runs is not None and (k := encode_columns(self, template, shape, raw, i, run, pieces, runs)):
            return i + k * template.width
        max_bytes, telemetry, fmt, dumps = limits.max_bytes, run.telemetry, run.format_id, self._dumps
        n_names, names, one_arg, host = shape.n_names, shape.names, shape.one_arg, shape.host
        ids, activity_id, workflow_id, campaign_id = shape.ids, shape.activity_id, shape.workflow_id, shape.campaign_id
        width, n, join, bare = template.width, len(raw), b"".join, template.bare
        last = self._last
        try:
            while i < n and raw[i] is template:
                _, tid, parent, t0, t1, args, kwargs, result, err, tel0, tel1 = raw[i : i + width]
                if kwargs or err is not None or tel0 is not tel1:
                    break
                nargs = 1 if bare else len(args)  # bare: the one argument as it is (TaskTemplate.bare)
                if nargs > n_names:
                    break
                a = args if bare else args[0] if nargs == 1 else None
                if nargs == 1:
                    t = type(a)
                    if not ((t is int and -9223372036854775808 <= a <= 9223372036854775807) or t is bool
                            or (t is float and -_INF < a < _INF) or _all_plain((a,), max_bytes)):
                        break
                    used = one_arg + dumps(a) + b"}"
                elif not _all_plain(args, max_bytes):
                    break
                else:
                    used = dumps(dict(zip(names, args, strict=False)))
                if result is None:
                    gen = b""
                else:
                    t = type(result)
                    if not ((t is int and -9223372036854775808 <= result <= 9223372036854775807) or t is bool
                            or (t is float and -_INF < result < _INF) or _all_plain((result,), max_bytes)):
                        break
                    gen = b',"generated":{"arg_0":' + dumps(result) + b"}"
                if tel0 is None and telemetry is not None:  # called before the first reading (as materialize does)
                    tel0 = tel1 = telemetry.snapshot
                task_id = fmt(tid)
                doc = {"task_id": task_id, "activity_id": activity_id, "workflow_id": workflow_id,
                       "campaign_id": campaign_id}
                if parent is None:
                    tail_ids = b""
                else:
                    if type(parent) is int:
                        parent = fmt(parent)
                    elif type(parent) is not str:
                        break
                    doc["parent_task_id"] = parent
                    tail_ids = b',"parent_task_id":' + dumps(parent)
                if tel0 is None:
                    tail = b"}\n"
                else:
                    if tel0 is not last[0] or tel1 is not last[1]:
                        if type(tel0) is not dict:
                            break
                        start = self._snapshot(tel0)
                        tail = join((b',"telemetry_at_start":', start, b',"telemetry_at_end":', start, b"}\n"))
                        last = self._last = (tel0, tel1, tail)
                    tail = last[2]
                    doc["telemetry_at_start"] = doc["telemetry_at_end"] = tel0
                head = join((b'{"type":"task","task_id":', dumps(task_id), ids, used, b',"started_at":', dumps(t0),
                             b',"ended_at":', dumps(t1), b',"status":"FINISHED"', gen, tail_ids, host))
                pieces += (head, tail)
                heads.append(head)
                docs.append(doc)
                i += width
        except Exception:  # not encoded here: the caller builds this record the usual way (and reports a failure)
            pass
        return i

    def _snapshot(self, snap: dict) -> bytes:
        entry = self._snapshots.get(id(snap))
        if entry is None or entry[0] is not snap:
            if len(self._snapshots) >= 256:
                self._snapshots.clear()
            entry = self._snapshots[id(snap)] = (snap, self._dumps(snap))
        return entry[1]


class _Shape:
    """What a template's messages share in this run, pre-encoded (see _Encoder.encode_run)."""

    __slots__ = ("activity_id", "workflow_id", "campaign_id", "names", "n_names", "ids", "one_arg", "host")

    def __init__(self, template: Any, run: Any, dumps: Any):
        self.activity_id = template.activity_id
        self.workflow_id = template.workflow_id or run.workflow_id
        self.campaign_id = template.campaign_id or run.campaign_id
        self.names = template.names
        self.n_names = len(template.names)
        self.ids = b"".join(
            (
                b',"activity_id":',
                dumps(self.activity_id),
                b',"workflow_id":',
                dumps(self.workflow_id),
                b',"campaign_id":',
                dumps(self.campaign_id),
                b',"used":',
            )
        )
        self.one_arg = b"{" + dumps(self.names[0]) + b":" if self.names else b""
        self.host = b""  # the host fields as they end the message (after a comma), when the run adds them


_MESSAGE_KEYS = frozenset(
    (
        "type",
        "task_id",
        "activity_id",
        "workflow_id",
        "campaign_id",
        "used",
        "started_at",
        "ended_at",
        "status",
        "generated",
        "parent_task_id",
        "telemetry_at_start",
        "telemetry_at_end",
    )
)


def _shape(template: Any, run: Any) -> _Shape | None:
    """The template's shape when its records may be encoded directly, else None (they are built the usual way)."""
    import orjson

    from flowcept_core.capture.templates import TaskTemplate

    if type(template) is not TaskTemplate or template.lightweight or template.args_handler is not None:
        return None
    if template.tags is not None or template.custom_metadata is not None or template.subtype is not None:
        return None
    if template.defaults or template.skip or template.output_names is not None:
        return None
    if "workflow_id" in template.names or "campaign_id" in template.names:  # they override the run's ids
        return None
    if any(type(n) is not str for n in template.names):
        return None
    shape = _Shape(template, run, orjson.dumps)
    if any(v is not None and type(v) is not str for v in (shape.activity_id, shape.workflow_id, shape.campaign_id)):
        return None
    if run.enrich and run.host_fields:  # set before anything is drained
        fields = run.host_fields
        if set(fields) & _MESSAGE_KEYS:  # one would replace a message field in place
            return None
        try:
            shape.host = b"," + orjson.dumps(fields)[1:-1]
        except (TypeError, orjson.JSONEncodeError):
            return None
    return shape
