"""Knowing when the producers of a run are done, from their start/end-of-stream markers (no KV polling).

Each producer (one Flowcept run in one process) opens its stream with
``{"type": CONTROL_TYPE, "info": START_OF_STREAM, "producer_id", "workflow_id"}`` and closes it with
``{"info": END_OF_STREAM, ..., "message_count": n, "workflow_counts": [[workflow_id, n], ...]}``
(flowcept_core.constants). ``message_count`` is how many messages the producer put on the stream before the end
marker (its start marker included); ``workflow_counts`` splits that number by the ``workflow_id`` of the messages
(a producer also publishes messages of other workflows: a model's own workflow, a task given ``workflow_id=...``).
It is a list of pairs, not a map, so that a message without a workflow id (null) counts under null in every wire
format. Brokers keep one producer's messages in order, so when its end marker arrives, everything it sent before has
arrived too.

Producers of older versions send no ``workflow_counts``; for them the tracker estimates from ``message_count``.
"""

from __future__ import annotations

from typing import Any

from flowcept_core.capture.record import LAYOUTS
from flowcept_core.constants import CONTROL_TYPE, END_OF_STREAM, START_OF_STREAM
from flowcept_core.packed import PACKED_TYPE

__all__ = ["StreamTracker", "count_by_workflow", "workflow_counts_of"]


class StreamTracker:
    """Feed it every message; ask done(workflow_id) whether every producer seen for it has ended."""

    def __init__(self) -> None:
        self.open: dict[str, str | None] = {}  # producer_id -> workflow_id, started and not yet ended
        self.ended: dict[str, tuple[str | None, int]] = {}  # producer_id -> (workflow_id, message_count)
        # producer_id -> its end marker's messages by workflow id (markers that carry workflow_counts)
        self.counted: dict[str, dict[str | None, int]] = {}
        # workflow_id -> messages of that workflow the ended producers announced (summed over their workflow_counts)
        self.announced: dict[str | None, int] = {}
        # workflow_id -> messages that arrived (data messages and start markers); the consumer increments it inline
        self.arrived: dict[str | None, int] = {}
        self.missing: dict[str | None, int] = {}  # workflow_id -> messages announced by producers, not arrived
        self.streamed: set[str | None] = set()  # workflow ids producers opened a stream for

    def observe(self, msg: dict) -> bool:
        """Record msg if it is a stream marker; True when it was one."""
        if msg.get("type") != CONTROL_TYPE:
            return False
        info, producer = msg.get("info"), msg.get("producer_id")
        if producer is None:
            return False
        if info == START_OF_STREAM:
            wf = msg.get("workflow_id")
            self.arrived[wf] = self.arrived.get(wf, 0) + 1  # producers count their start marker as published
            self.streamed.add(wf)
            if producer not in self.ended:
                self.open[producer] = msg.get("workflow_id")
            return True
        if info == END_OF_STREAM:
            self.open.pop(producer, None)
            count = msg.get("message_count")
            self.ended[producer] = (msg.get("workflow_id"), count if type(count) is int and count > 0 else 0)
            counts = workflow_counts_of(msg)
            if counts is not None:
                old = self.counted.pop(producer, {})  # an end marker delivered again replaces the first one
                for wf, n in old.items():
                    self.announced[wf] -= n
                self.counted[producer] = counts
                for wf, n in counts.items():
                    self.announced[wf] = self.announced.get(wf, 0) + n
            return True
        return False

    def shortfall(self, workflow_id: str | None) -> int:
        """Called when a producer of workflow_id ended: once none of its producers is open, how many messages they
        announced never arrived here, at least (redelivered duplicates count as arrived, so the true loss can be
        larger); 0 while some producer is still open. Recorded in ``missing`` by the workflow the lost messages
        belong to.

        With per-workflow counts (``workflow_counts``), each workflow the producers published messages of is
        compared on its own: the messages all ended producers announced for it against those that arrived for it.
        Messages of still-open producers can only make more arrive than announced, so a shortfall is always a real
        loss, whatever the order in which runs (nested ones included) interleave their markers. A shortfall means
        the MQ lost messages it had accepted (a broker restarted without persistence) or skipped batches it could
        not decode.
        """
        if not self.done(workflow_id):
            return 0
        producers = [p for p, (wf, _) in self.ended.items() if wf == workflow_id]
        if any(p not in self.counted for p in producers):
            return self._estimated_shortfall(workflow_id)
        covered: set[str | None] = set()
        for p in producers:
            covered.update(self.counted[p])
        total = 0
        for wf in covered:
            lost = self.announced.get(wf, 0) - self.arrived.get(wf, 0)
            if lost > 0:
                self.missing[wf] = lost
                total += lost
        return total

    def _estimated_shortfall(self, workflow_id: str | None) -> int:
        """The shortfall from totals alone (producers whose end marker has no workflow_counts)."""
        announced = sum(self.producers(workflow_id).values())
        # a producer also publishes messages of workflows it opened no stream for: without per-workflow counts
        # they are credited to the producers. The workflow itself is never one of them, even when its start marker
        # was lost with the first messages.
        nested = sum(n for wf, n in self.arrived.items() if wf not in self.streamed and wf != workflow_id)
        lost = max(announced - self.arrived.get(workflow_id, 0) - nested, 0)
        if lost:
            self.missing[workflow_id] = lost
        return lost

    def done(self, workflow_id: str | None = None) -> bool:
        """True when at least one producer (of workflow_id, if given) ended and none of them is still open."""

        def mine(wf: str | None) -> bool:
            return workflow_id is None or wf == workflow_id

        if any(mine(wf) for wf in self.open.values()):
            return False
        return any(mine(wf) for wf, _ in self.ended.values())

    def producers(self, workflow_id: str | None = None) -> dict[str, int]:
        """Ended producers (of workflow_id) and how many messages each announced."""
        return {p: n for p, (wf, n) in self.ended.items() if workflow_id is None or wf == workflow_id}


def workflow_counts_of(marker: dict) -> dict[str | None, int] | None:
    """An end marker's ``workflow_counts`` as {workflow_id: n}; None when absent or not a list of [workflow id
    (a string or null), whole number >= 0] pairs (the tracker then estimates from ``message_count``)."""
    pairs = marker.get("workflow_counts")
    if type(pairs) is not list:
        return None
    out: dict[str | None, int] = {}
    for pair in pairs:
        if type(pair) not in (list, tuple) or len(pair) != 2:
            return None
        wf, n = pair
        if (wf is not None and type(wf) is not str) or type(n) is not int or n < 0:
            return None
        out[wf] = out.get(wf, 0) + n
    return out


def count_by_workflow(batch: list[dict], counts: dict[str | None, int]) -> None:
    """Add the messages of batch, by workflow_id, to counts (a packed message counts the messages it stands for,
    each under the workflow the consumer will see once it is expanded)."""
    get = counts.get
    for msg in batch:
        if msg.__class__ is not dict:
            counts[None] = get(None, 0) + 1
        elif msg.get("type") == PACKED_TYPE:
            try:
                _count_packed(msg, counts)
            except Exception:  # counting must never stop publishing: count what the consumer will expand
                _count_expanded(msg, counts)
        else:
            wf = msg.get("workflow_id")
            counts[wf] = get(wf, 0) + 1


def _count_packed(msg: dict, counts: dict[str | None, int]) -> None:
    """count_by_workflow for one packed message, without building its messages (but those whose workflow a call's
    own ``workflow_id`` argument may set: rare, built as the consumer will build them)."""
    own = (msg.get("run") or {}).get("workflow_id")
    templates = msg.get("templates") or {}
    size = max(map(int, templates), default=-1) + 1
    widths, workflows = [1] * size, [own] * size
    # where a record holds the call's kwargs (0: no kwargs; -1: a parameter named workflow_id, build each record)
    kw_at = [0] * size
    for key, state in templates.items():
        tid, layout = int(key), LAYOUTS[state["kind"]]
        widths[tid] = layout.width
        workflows[tid] = state.get("workflow_id") or own
        if "workflow_id" in (state.get("names") or ()) or "workflow_id" in (state.get("defaults") or {}):
            kw_at[tid] = -1
        elif "kwargs" in layout.fields:
            kw_at[tid] = layout.index("kwargs")
    hits = [0] * size
    tally: dict[Any, int] = {}
    slow: list[tuple[int, list]] = []
    records = msg.get("records") or []
    i, n = 0, len(records)
    while i < n:
        item = records[i]
        if item.__class__ is dict:
            wf = item.get("workflow_id")
            tally[wf] = tally.get(wf, 0) + 1
            i += 1
            continue
        at = kw_at[item]
        if at:
            kw = records[i + at] if at > 0 else None
            if at < 0 or (kw.__class__ is dict and "workflow_id" in kw):
                slow.append((item, records[i : i + widths[item]]))
                i += widths[item]
                continue
        hits[item] += 1
        i += widths[item]
    for tid, k in enumerate(hits):
        if k:
            tally[workflows[tid]] = tally.get(workflows[tid], 0) + k
    if slow:
        _tally_built(msg, slow, tally)
    for wf, k in tally.items():
        counts[wf] = counts.get(wf, 0) + k


def _count_expanded(msg: dict, counts: dict[str | None, int]) -> None:
    from flowcept_core.packed import expand

    try:
        for m in expand(msg):
            wf = m.get("workflow_id")
            counts[wf] = counts.get(wf, 0) + 1
    except Exception:  # the consumer cannot expand it either (it dead-letters it): its messages never arrive
        wf = (msg.get("run") or {}).get("workflow_id")
        counts[wf] = counts.get(wf, 0) + int(msg.get("count") or 0)


def _tally_built(msg: dict, records: list[tuple[int, list]], tally: dict[Any, int]) -> None:
    """Build the given records of a packed message as the consumer will, and tally their workflow ids."""
    from flowcept_core.capture.record import RecordContext, template_from_state

    run = RecordContext(msg.get("run") or {})
    templates: dict[int, Any] = {}
    for tid, rec in records:
        tmpl = templates.get(tid)
        if tmpl is None:
            tmpl = templates[tid] = template_from_state(msg["templates"][str(tid)])
        wf = tmpl.materialize(rec, run).get("workflow_id")
        tally[wf] = tally.get(wf, 0) + 1
