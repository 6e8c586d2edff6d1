"""Knowing when the producers of a run are done, from their start/end-of-stream markers (no KV polling).

Each producer (one Flowcept run in one process) opens its stream with
``{"type": CONTROL_TYPE, "info": START_OF_STREAM, "producer_id", "workflow_id"}`` and closes it with
``{"info": END_OF_STREAM, ..., "message_count": n}`` (flowcept_core.constants). Brokers keep one producer's
messages in order, so when its end marker arrives, everything it sent before has arrived too.
"""

from __future__ import annotations

from flowcept_core.constants import CONTROL_TYPE, END_OF_STREAM, START_OF_STREAM

__all__ = ["StreamTracker"]


class StreamTracker:
    """Feed it every message; ask done(workflow_id) whether every producer seen for it has ended."""

    def __init__(self) -> None:
        self.open: dict[str, str | None] = {}  # producer_id -> workflow_id, started and not yet ended
        self.ended: dict[str, tuple[str | None, int]] = {}  # producer_id -> (workflow_id, message_count)
        # workflow_id -> messages that arrived (data messages and start markers); the consumer increments it inline
        self.arrived: dict[str | None, int] = {}
        self.missing: dict[str | None, int] = {}  # workflow_id -> messages announced by its producers, not arrived
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
            return True
        return False

    def shortfall(self, workflow_id: str | None) -> int:
        """Called when a producer of workflow_id ended: once none of its producers is open, how many messages they
        announced (end-of-stream message_count) never arrived here, at least (redelivered duplicates count as
        arrived, so the true loss can be larger); 0 while some producer is still open. Recorded in ``missing``.

        A shortfall means the MQ lost messages it had accepted (a broker restarted without persistence) or skipped
        batches it could not decode.
        """
        if not self.done(workflow_id):
            return 0
        announced = sum(self.producers(workflow_id).values())
        # a producer also publishes messages of workflows it opened no stream for (a model's own workflow, a task
        # given workflow_id=...): they arrive under that workflow, and count as arrived for the producers. The
        # workflow itself is never one of them, even when its start marker was lost with the first messages.
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
