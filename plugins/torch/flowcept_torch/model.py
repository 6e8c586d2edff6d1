"""What a decorated model instance carries: its forward template, its workflow, and the wrappers of its forwards.

A recorded forward does: read the active run and the parent context, take a counter id and two clock readings,
summarize the input and output tensors (flowcept_torch.tensors), lay one flat record into the run's buffer. The
message is built later, off the caller's path (flowcept_torch.record). Everything else (the template, the workflow
message, the parameter names, the child wrappers) is fixed when the model is built.

Under ``torch.compile`` the wrapper steps aside while the model is traced, so a compiled model's forwards run the
compiled code and are not recorded (the eager model they were compiled from is).
"""

from __future__ import annotations

from time import time
from typing import Any

import torch
from torch import nn

from flowcept_core.plugin import CAPTURE_STATE, PARENT_TASK, TASK_COUNTER, error_text, get_logger
from flowcept_torch.record import CHILD_FORWARD, ForwardTemplate
from flowcept_torch.tensors import TensorSummary, summarize

__all__ = ["ModelState", "ChildForward", "parent_forward", "wrap_children", "is_compiling"]

_state = CAPTURE_STATE
_parent_get, _parent_set, _parent_reset = PARENT_TASK.get, PARENT_TASK.set, PARENT_TASK.reset
_counter = TASK_COUNTER
_Tensor = torch.Tensor
_compiler = getattr(torch, "compiler", None)
is_compiling = getattr(_compiler, "is_compiling", None) or torch._dynamo.is_compiling
_failures = [0]


def _capture_failed(what: str, e: BaseException) -> None:
    """Capture never breaks the user's model: log (the first few) and carry on."""
    _failures[0] += 1
    if _failures[0] <= 5:
        get_logger().error(f"flowcept_torch could not record a forward of {what}: {error_text(e)}")


class ModelState:
    """One decorated model's capture state (``model._fc``), set up when the model is built.

    ``parent``: the parent task id forwards get (the constructor's ``parent_task_id``, or the current epoch / batch
    iteration of a FlowceptEpochLoop / FlowceptBatchLoop); None: the task executing at call time, if any.
    ``epoch`` / ``every``: forwards are recorded when ``epoch % every == 0`` (``capture_epochs_at_every``).
    ``active``: how many recorded forwards of this model are running (child forwards are recorded only then).
    ``workflow``: the fields of the model's workflow message, or None when it is not registered.
    """

    __slots__ = ("name", "tmpl", "parent", "epoch", "every", "children", "active", "wf_run", "workflow")

    def __init__(self, name: str, tmpl: ForwardTemplate, parent: str | None, every: int, children: bool,
                 workflow: dict | None):
        self.name = name
        self.tmpl = tmpl
        self.parent = parent
        self.epoch = 0
        self.every = every
        self.children = children
        self.active = 0
        self.wf_run: Any = None
        self.workflow = workflow

    def __getstate__(self) -> dict:
        """Copies and pickles leave the run behind (a copy announces its workflow again in the run it records in)."""
        state = {k: getattr(self, k) for k in self.__slots__}
        state["wf_run"] = None
        state["active"] = 0
        return state

    def __setstate__(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, v)

    def announce(self, run: Any) -> None:
        """Emit the model's workflow message into run (once per run: a model may outlive a Flowcept run)."""
        self.wf_run = run
        if self.workflow is None:
            return
        from flowcept_core.plugin import workflow_message

        fields = dict(self.workflow)
        if fields.get("parent_workflow_id") is None:
            fields["parent_workflow_id"] = run.workflow_id
        if fields.get("campaign_id") is None:
            fields["campaign_id"] = run.campaign_id
        fields["utc_timestamp"] = time()
        run.emit(workflow_message(**{k: v for k, v in fields.items() if v is not None}))


def _inputs(args: tuple, kwargs: dict) -> tuple[Any, Any]:
    """(positional inputs, keyword inputs) as the record keeps them: tensors summarized."""
    if len(args) == 1 and isinstance(args[0], _Tensor):
        ins: Any = TensorSummary(args[0])
    else:
        ins = [summarize(a, 1) for a in args] if args else None
    return ins, (summarize(kwargs) if kwargs else None)


def _snapshot(run: Any) -> Any:
    tel = run.telemetry
    return tel.snapshot if tel is not None else None


def parent_forward(orig: Any) -> Any:
    """The forward a decorated class gets: orig's behaviour, plus one record per call while capture is active."""

    def forward(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
        if is_compiling():  # traced by torch.compile: the graph holds the model's own forward only
            return orig(self, *args, **kwargs)
        st = self._fc
        run = _state.run
        if run is None or st is None or (st.every != 1 and st.epoch % st.every):
            return orig(self, *args, **kwargs)
        try:
            if st.wf_run is not run:
                st.announce(run)
            ins, kw = _inputs(args, kwargs)
        except Exception as e:
            _capture_failed(st.name, e)
            return orig(self, *args, **kwargs)
        tid = next(_counter)
        parent = st.parent
        if parent is None:
            parent = _parent_get()
        token = _parent_set(tid)
        st.active += 1
        t0 = time()
        try:
            out = orig(self, *args, **kwargs)
        except BaseException as e:
            t1 = time()
            st.active -= 1
            _parent_reset(token)
            try:
                run.extend((st.tmpl, tid, parent, t0, t1, self.training, ins, kw, None, error_text(e), _snapshot(run)))
            except Exception as e2:
                _capture_failed(st.name, e2)
            raise
        t1 = time()
        st.active -= 1
        _parent_reset(token)
        try:
            o = TensorSummary(out) if isinstance(out, _Tensor) else summarize(out)
            tel = run.telemetry
            run.extend((st.tmpl, tid, parent, t0, t1, self.training, ins, kw, o, None,
                        tel.snapshot if tel is not None else None))
        except Exception as e:
            _capture_failed(st.name, e)
        return out

    forward.__name__ = getattr(orig, "__name__", "forward")
    forward.__qualname__ = getattr(orig, "__qualname__", "forward")
    forward.__doc__ = getattr(orig, "__doc__", None)
    forward.__wrapped__ = orig  # type: ignore[attr-defined]
    return forward


class ChildForward:
    """The ``forward`` a wrapped child module gets (an instance attribute): its class's forward, plus a
    ``child_forward`` record while a recorded forward of the parent model runs. A deep copy of the model gets one bound
    to the copied child (not the original's), and a pickled model unpickles with it."""

    __slots__ = ("module", "st", "tmpl", "inspect", "telemetry", "cls_forward", "__wrapped__")

    def __init__(self, module: nn.Module, st: ModelState, tmpl: ForwardTemplate, inspect: bool, telemetry: bool,
                 cls_forward: Any):
        self.module = module
        self.st = st
        self.tmpl = tmpl
        self.inspect = inspect
        self.telemetry = telemetry
        self.cls_forward = cls_forward  # the child class's own forward (a plain function)
        self.__wrapped__ = cls_forward

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        module = self.module
        if not self.st.active or is_compiling():  # only inside a recorded forward of the parent model
            return self.cls_forward(module, *args, **kwargs)
        run = _state.run
        if run is None:
            return self.cls_forward(module, *args, **kwargs)
        tmpl = self.tmpl
        try:
            ins, kw = _inputs(args, kwargs) if self.inspect else (None, None)
        except Exception as e:
            _capture_failed(tmpl.activity_id, e)
            return self.cls_forward(module, *args, **kwargs)
        tid = next(_counter)
        parent = _parent_get()
        t0 = time()
        try:
            out = self.cls_forward(module, *args, **kwargs)
        except BaseException as e:
            try:
                run.extend((tmpl, tid, parent, t0, time(), module.training, ins, kw, None, error_text(e),
                            _snapshot(run) if self.telemetry else None))
            except Exception as e2:
                _capture_failed(tmpl.activity_id, e2)
            raise
        t1 = time()
        try:
            o = None
            if self.inspect:
                o = TensorSummary(out) if isinstance(out, _Tensor) else summarize(out)
            run.extend((tmpl, tid, parent, t0, t1, module.training, ins, kw, o, None,
                        _snapshot(run) if self.telemetry else None))
        except Exception as e:
            _capture_failed(tmpl.activity_id, e)
        return out

    def __reduce__(self) -> tuple:
        return ChildForward, (self.module, self.st, self.tmpl, self.inspect, self.telemetry, self.cls_forward)

    def __deepcopy__(self, memo: dict) -> ChildForward:
        from copy import deepcopy

        return ChildForward(deepcopy(self.module, memo), deepcopy(self.st, memo), self.tmpl, self.inspect,
                            self.telemetry, self.cls_forward)


def wrap_children(model: nn.Module, st: ModelState, mode: str, workflow_id: str | None,
                  campaign_id: str | None, custom_metadata: dict | None) -> int:
    """Record the direct children's forwards (inside the model's recorded forwards) as ``child_forward`` tasks.

    mode: lightweight (timing and status), tensor_inspection (plus input/output tensor summaries and the child's
    settings), telemetry (plus the run's telemetry), telemetry_and_tensor_inspection (both). Returns how many
    children were wrapped.
    """
    from flowcept_torch.profile import module_fields

    inspect = "tensor_inspection" in mode
    telemetry = "telemetry" in mode
    n = 0
    for _, child in model.named_children():
        if "forward" in vars(child):  # already wrapped (a child shared by two models) or replaced by the user
            continue
        tmpl = ForwardTemplate(type(child).__name__, CHILD_FORWARD, workflow_id=workflow_id, campaign_id=campaign_id,
                               module_fields=module_fields(child) if inspect else None,
                               custom_metadata=custom_metadata, telemetry=telemetry)
        child.forward = ChildForward(child, st, tmpl, inspect, telemetry, type(child).forward)
        n += 1
    return n
