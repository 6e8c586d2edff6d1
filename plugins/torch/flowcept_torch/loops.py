"""FlowceptEpochLoop and FlowceptBatchLoop: training loops whose iterations are tasks and the parents of the forwards.

Each iteration is a task of the core loops (FlowceptLoop, or FlowceptLightweightLoop when the settings say
``lightweight``): ``epochs_loop_iteration`` with ``used.epoch``, ``<step>_batch_iteration`` with ``used.batch``,
``generated`` what ``end_iter`` got (one-element tensors as their number, other tensors as summaries). While an
iteration runs, the decorated model's forwards have it as their parent task; a batch loop's iterations have the
current epoch iteration as theirs. Loop items are recorded as tensor summaries, never tensor data.

``instrumentation.torch.epoch_loop`` / ``batch_loop``: ``default`` (FlowceptLoop: each iteration streamed with its
times), ``lightweight`` (FlowceptLightweightLoop: published when the loop ends), null (a plain iterable). The epoch
index also drives ``capture_epochs_at_every``.

Example::

    epochs = FlowceptEpochLoop(range(3), model=model)
    for epoch in epochs:
        for x, y in FlowceptBatchLoop(loader, epochs_loop=epochs):
            loss = loss_fn(model(x), y)
            ...
        epochs.end_iter({"loss": loss.item()})
"""

from __future__ import annotations

from collections.abc import Iterator, Sized
from typing import Any

from flowcept_torch.tensors import summarize_now

__all__ = ["FlowceptEpochLoop", "FlowceptBatchLoop"]


def _loop_class(mode: str | None) -> Any:
    from flowcept_core.plugin import FlowceptLightweightLoop, FlowceptLoop

    return FlowceptLightweightLoop if mode == "lightweight" else FlowceptLoop


class _ModelLoop:
    """A core loop over summaries of the items, yielding the items themselves, and setting the model's parent."""

    item_name = "item"

    def __init__(self, items: Sized | Iterator | int, loop_name: str, mode: str | None, enabled: bool,
                 parent_task_id: str | None, workflow_id: str | None, items_length: int, model: Any):
        self.model = model
        self._items: Any = range(items) if isinstance(items, int) and not isinstance(items, bool) else items
        self._current: Any = None
        self._inner: Any = None
        self._workflow_id: str | None = None
        if not enabled or mode is None:
            return
        from flowcept_core.plugin import CAPTURE_STATE

        run = CAPTURE_STATE.run
        if run is None:
            return
        if not isinstance(self._items, Sized) and not items_length:
            self._items = list(self._items)  # as FlowceptLoop does with an iterator of unknown length
        length = len(self._items) if isinstance(self._items, Sized) else int(items_length)
        self._workflow_id = workflow_id or run.workflow_id
        self._inner = _loop_class(mode)(self._summaries() if length else [], loop_name=loop_name,
                                        item_name=self.item_name, parent_task_id=parent_task_id,
                                        workflow_id=self._workflow_id, items_length=length)

    @property
    def enabled(self) -> bool:
        """True when the iterations are recorded."""
        return self._inner is not None

    @property
    def workflow_id(self) -> str | None:
        """The workflow the iterations belong to (None without capture)."""
        return self._workflow_id

    def _summaries(self) -> Iterator:
        for item in self._items:
            self._current = item
            yield summarize_now(item)

    def __len__(self) -> int:
        return len(self._inner) if self._inner is not None else len(self._items)

    def end_iter(self, generated_value: dict) -> None:
        """Attach what this iteration produced (e.g. ``{"loss": loss.item()}``) as its generated field."""
        if self._inner is not None:
            try:
                value = summarize_now(generated_value)
            except Exception:
                value = generated_value
            self._inner.end_iter(value)

    def get_current_iteration_id(self) -> str | None:
        """The task id of the iteration in progress (None without capture)."""
        return self._inner.get_current_iteration_id() if self._inner is not None else None

    def _state(self) -> Any:
        return getattr(self.model, "_fc", None) if self.model is not None else None

    def _enter(self, st: Any, index: int) -> None:  # subclasses: what a new iteration sets on the model
        st.parent = self.get_current_iteration_id()

    def __iter__(self) -> Iterator:
        st = self._state()
        if self._inner is None:
            for i, item in enumerate(self._items):
                if st is not None:
                    self._enter_uncaptured(st, i)
                yield item
            return
        saved = st.parent if st is not None else None
        it = iter(self._inner)
        try:
            for i, _ in enumerate(it):
                if st is not None:
                    self._enter(st, i)
                yield self._current
        finally:
            it.close()
            self._current = None
            if st is not None:
                st.parent = saved

    def _enter_uncaptured(self, st: Any, index: int) -> None:
        pass


class FlowceptEpochLoop(_ModelLoop):
    """Iterate epochs; each is a task (``epochs_loop_iteration``) and the parent of the model's forwards in it."""

    ACTIVITY_ID = "epochs_loop"
    item_name = "epoch"

    def __init__(self, items: Sized | Iterator | int, model: Any = None, parent_task_id: str | None = None,
                 workflow_id: str | None = None, capture_enabled: bool = True, items_length: int = 0):
        from flowcept_torch.settings import current_settings

        cfg = current_settings()
        super().__init__(items, self.ACTIVITY_ID, cfg.epoch_loop, capture_enabled and cfg.enabled, parent_task_id,
                         workflow_id, items_length, model)

    def _enter(self, st: Any, index: int) -> None:
        st.parent = self.get_current_iteration_id()
        st.epoch = index

    def _enter_uncaptured(self, st: Any, index: int) -> None:
        st.epoch = index  # capture_epochs_at_every counts epochs even when they are not recorded


class FlowceptBatchLoop(_ModelLoop):
    """Iterate batches of an epoch; each is a task (``<step>_batch_iteration``), child of the current epoch
    iteration and parent of the model's forwards in it. Without a recording ``epochs_loop`` it records nothing."""

    item_name = "batch"

    def __init__(self, items: Sized | Iterator | int, epochs_loop: FlowceptEpochLoop | None = None,
                 parent_task_id: str | None = None, workflow_id: str | None = None, step: str = "train",
                 items_length: int = 0, capture_enabled: bool = True):
        from flowcept_torch.settings import current_settings

        self._epochs_loop = epochs_loop
        self.activity_id = f"{step}_batch"
        cfg = current_settings()
        enabled = capture_enabled and cfg.enabled and epochs_loop is not None and epochs_loop.enabled
        super().__init__(items, self.activity_id, cfg.batch_loop, enabled,
                         parent_task_id or (epochs_loop.get_current_iteration_id() if enabled else None),
                         workflow_id or (epochs_loop.workflow_id if enabled else None), items_length,
                         epochs_loop.model if epochs_loop is not None else None)
