"""FlowceptLoop and FlowceptLightweightLoop: each iteration of a loop becomes a task.

Both record one task per iteration (activity_id = ``<loop_name>_iteration``, used = {"i": i, item_name: item},
generated = what end_iter() got) and one for the whole loop (activity_id = loop_name, subtype "loop"). Iterations
nest under ``parent_task_id`` when given, else under the task executing where the loop was built (none at top
level). The loop record is their sibling, not their parent: it has the same parent, and its ``group_id`` (its own
task id) is the ``group_id`` of every iteration; iteration ids are ``<loop task id>_<i>``. So
``task_query({"parent_task_id": my_task})`` finds the iterations, and ``{"group_id": loop_id}`` one loop's.

FlowceptLoop streams each iteration as it ends (with started_at/ended_at, status and, if telemetry is on,
telemetry_at_end). FlowceptLightweightLoop keeps iterations locally and publishes them in one batch when the loop
ends (no per-iteration time or telemetry). Leaving a loop early (break, exception) still records the iterations
that ran, and the loop task. With capture disabled or no active Flowcept, both behave like the plain iterable.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sized
from time import time
from typing import Any

from flowcept_core.capture.context import STATE, current_parent_id
from flowcept_core.capture.record import ITERATION
from flowcept_core.capture.templates import FINISHED
from flowcept_core.ids import new_id
from flowcept_core.serialize import sanitize_dict

__all__ = ["FlowceptLoop", "FlowceptLightweightLoop"]


class IterationTemplate:
    """Materializes iteration records (layout: flowcept_core.capture.record.ITERATION)."""

    __slots__ = ("loop",)
    width = ITERATION.width
    record_kind = ITERATION.kind  # the record kind packed batches name (flowcept_core.packed)

    def __init__(self, loop: Any):
        self.loop = loop

    def state(self, sanitize: Any) -> dict:
        """What a consumer needs to build iteration messages (see flowcept_core.packed)."""
        loop = self.loop
        return {
            "kind": ITERATION.kind,
            "width": self.width,
            "loop_id": loop._loop_id,
            "activity": loop._iter_activity,
            "workflow_id": loop._workflow_id,
            "item_name": loop.item_name,
            "parent": loop._parent,
        }

    def has_secret_params(self, redact: Any) -> bool:
        """True when the item's name is secret for this redactor (such records are built where they were taken)."""
        return redact is not None and bool(redact.secret_key(self.loop.item_name))

    @classmethod
    def from_state(cls, state: dict) -> IterationTemplate:
        from types import SimpleNamespace

        return cls(
            SimpleNamespace(
                _loop_id=state["loop_id"],
                _iter_activity=state["activity"],
                _workflow_id=state["workflow_id"],
                item_name=state["item_name"],
                _parent=state.get("parent"),
            )
        )

    def materialize(self, rec: tuple, run: Any) -> dict:
        _, i, item, t0, t1, gen, tel = rec
        loop = self.loop
        msg = {
            "type": "task",
            "task_id": f"{loop._loop_id}_{i}",
            "activity_id": loop._iter_activity,
            "workflow_id": loop._workflow_id,
            "group_id": loop._loop_id,
            "used": sanitize_dict({"i": i, loop.item_name: item}, run.limits),
            "status": FINISHED,
        }
        if loop._parent is not None:
            msg["parent_task_id"] = loop._parent
        if run.campaign_id is not None:
            msg["campaign_id"] = run.campaign_id
        if t0 is not None:
            msg["started_at"] = t0
            msg["ended_at"] = t1
        if gen is not None:
            msg["generated"] = sanitize_dict(gen, run.limits) if type(gen) is dict else run.sanitize(gen)
        if tel is not None:
            msg["telemetry_at_end"] = tel
        return msg


class _LoopBase:
    _lightweight = False

    def __init__(
        self,
        items: Sized | Iterator | int,
        loop_name: str = "loop",
        item_name: str = "item",
        parent_task_id: str | None = None,
        workflow_id: str | None = None,
        items_length: int = 0,
        capture_enabled: bool = True,
    ):
        self.loop_name = loop_name
        self.item_name = item_name
        self._items, self._length = self._resolve(items, items_length)
        run = STATE.run
        self._run = run if capture_enabled else None
        self._gen: Any = None
        self._i = -1
        self._closed = True
        self._it: Iterator | None = None
        if self._run is None:
            return
        self._loop_id = new_id()
        self._workflow_id = workflow_id or run.workflow_id
        self._parent = parent_task_id or current_parent_id()
        self._iter_activity = f"{loop_name}_iteration"
        self._tmpl = IterationTemplate(self)
        self._started = time()
        self._closed = False
        run.open_loops.add(self)

    def _resolve(self, items: Any, items_length: int) -> tuple[Iterable, int]:
        if isinstance(items, bool) or not (isinstance(items, (int, Iterable))):
            raise TypeError(f"{type(self).__name__} items={items!r} must be an int, a sized iterable or an iterator")
        if isinstance(items, int):
            if items < 0:
                raise ValueError(f"{type(self).__name__} items={items} must not be negative")
            return range(items), items
        if isinstance(items, Sized):
            return items, len(items)
        if items_length:
            return items, int(items_length)
        if self._lightweight:
            raise ValueError(
                "FlowceptLightweightLoop needs a known length: pass a sized iterable (list, range) "
                "or items_length=<number of items> for an iterator"
            )
        materialized = list(items)  # documented: an iterator of unknown length is materialized
        return materialized, len(materialized)

    def __len__(self) -> int:
        return self._length

    def __next__(self) -> Any:
        if self._it is None:
            self._it = iter(self)
        return next(self._it)

    def end_iter(self, generated_value: dict) -> None:
        """Attach the values this iteration produced (stored as its generated field)."""
        self._gen = generated_value

    def get_current_iteration_id(self) -> str | None:
        """The task id of the iteration in progress (None before the first or without capture)."""
        if self._run is None or self._i < 0:
            return None
        return f"{self._loop_id}_{self._i}"

    def _loop_message(self, ended_at: float, iterations: int) -> dict:
        msg = {
            "type": "task",
            "task_id": self._loop_id,
            "activity_id": self.loop_name,
            "workflow_id": self._workflow_id,
            "used": {"items_length": self._length, "iterations": iterations},
            "started_at": self._started,
            "ended_at": ended_at,
            "status": FINISHED,
            "subtype": "loop",
            "group_id": self._loop_id,
        }
        if self._parent is not None:
            msg["parent_task_id"] = self._parent
        if self._run.campaign_id is not None:
            msg["campaign_id"] = self._run.campaign_id
        return msg

    def _close(self) -> None:
        """Called when the loop ends, is left early, or Flowcept stops with it unfinished."""
        if self._closed:
            return
        self._closed = True
        if self._it is not None:
            self._it.close()


class FlowceptLoop(_LoopBase):
    """Iterate items, streaming one task per iteration (start/end time, status, optional telemetry)."""

    def __iter__(self) -> Iterator:
        run = self._run
        if run is None or self._closed:
            yield from self._items
            return
        append = run.extend
        tmpl = self._tmpl
        tel = run.telemetry
        i = -1
        t0 = time()
        try:
            for item in self._items:
                i += 1
                self._i = i
                yield item
                t1 = time()
                append((tmpl, i, item, t0, t1, self._gen, tel.snapshot if tel is not None else None))
                self._gen = None
                t0 = t1
            i += 1
        finally:
            if i >= 0 and self._i == i:  # left during iteration i (break/exception): record it as it stands
                run.extend((tmpl, i, item, t0, time(), self._gen, None))
            self._closed = True
            self._it = None
            run.append(self._loop_message(time(), i + 1 if self._i == i else i))


class FlowceptLightweightLoop(_LoopBase):
    """Iterate items, publishing all iteration tasks in one batch when the loop ends (lowest overhead)."""

    _lightweight = True

    def __iter__(self) -> Iterator:
        run = self._run
        if run is None or self._closed:
            yield from self._items
            return
        tmpl = self._tmpl
        records: list = []
        append = records.extend
        i = -1
        try:
            for item in self._items:
                i += 1
                self._i = i
                yield item
                append((tmpl, i, item, None, None, self._gen, None))
                self._gen = None
            i += 1
        finally:
            if i >= 0 and self._i == i:
                append((tmpl, i, item, None, None, self._gen, None))
            self._closed = True
            self._it = None
            records.append(self._loop_message(time(), i + 1 if self._i == i else i))
            run.emit_many(records)
