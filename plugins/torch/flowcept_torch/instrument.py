"""``@flowcept_torch``: each forward call of a decorated ``nn.Module`` class becomes a task.

Example::

    from flowcept import Flowcept, flowcept_torch

    @flowcept_torch
    class MyNet(nn.Module):
        def __init__(self, **kwargs):
            super().__init__()
            self.fc = nn.Linear(10, 1)

        def forward(self, x):
            return self.fc(x)

    with Flowcept(workflow_name="training"):
        model = MyNet(get_profile=True, custom_metadata={"lr": 0.01})
        model(torch.randn(4, 10))   # a task: activity_id "MyNet", subtype "parent_forward"

A forward task has: activity_id (the class name), subtype ``parent_forward``, started_at, ended_at, status (ERROR
with the exception in stderr when the forward raises; the exception propagates), parent_task_id, the model's
workflow_id, ``custom_metadata`` (``is_training`` and what the user passed), ``used`` (the inputs: the first as
``tensor``, the others by parameter name) and ``generated`` (the output as ``tensor``, or by position / key),
tensors as summaries only (shape, dtype, device, numel, nbytes, is_sparse, density).

Constructor keywords the decorator reads (passed on to the class's ``__init__`` only when it names them or takes
``**kwargs``): ``get_profile``, ``custom_metadata``, ``parent_task_id``, ``parent_workflow_id``, ``campaign_id``,
``save_workflow``, ``capture_enabled``. Settings: ``instrumentation.torch`` (flowcept_torch.hooks).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from flowcept_core.plugin import SettingsError, error_text, get_logger
from flowcept_torch.loops import FlowceptBatchLoop, FlowceptEpochLoop
from flowcept_torch.model import ModelState, parent_forward, wrap_children
from flowcept_torch.record import PARENT_FORWARD, ForwardTemplate
from flowcept_torch.settings import TorchSettings, current_settings

__all__ = ["flowcept_torch", "FlowceptEpochLoop", "FlowceptBatchLoop"]

OPTIONS = ("get_profile", "custom_metadata", "parent_task_id", "parent_workflow_id", "campaign_id", "save_workflow",
           "capture_enabled")


def _passed_options(cls: type) -> tuple[bool, frozenset[str]]:
    """(takes **kwargs, the options its __init__ names): which of our keywords the class's own __init__ gets."""
    import inspect

    try:
        params = inspect.signature(cls.__init__).parameters.values()
    except (TypeError, ValueError):
        return True, frozenset()
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params)
    return var_kw, frozenset(p.name for p in params if p.name in OPTIONS)


def _input_names(forward: Any) -> tuple[str, ...]:
    """Keys of the positional inputs in ``used``: ``tensor`` for the first, parameter names for the others."""
    code = getattr(getattr(forward, "__wrapped__", forward), "__code__", None)
    if code is None:
        return ("tensor",)
    names = code.co_varnames[1:code.co_argcount]  # without self
    return ("tensor", *names[1:])


def _check_options(cls_name: str, options: dict) -> None:
    meta = options.get("custom_metadata")
    if meta is not None and not isinstance(meta, dict):
        raise TypeError(f"{cls_name}(custom_metadata={meta!r}): custom_metadata must be a dict")
    for key in ("parent_task_id", "parent_workflow_id", "campaign_id"):
        value = options.get(key)
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{cls_name}({key}={value!r}): {key} must be a str")


def _setup(model: nn.Module, name: str, names: tuple[str, ...], options: dict, cfg: TorchSettings) -> None:
    """Build the model's capture state (``model._fc``) and register its workflow; called at the end of __init__."""
    from flowcept_core.plugin import CAPTURE_STATE, new_uuid

    meta = options.get("custom_metadata")
    parent_wf = options.get("parent_workflow_id")
    campaign = options.get("campaign_id")
    register = cfg.register_workflow and options.get("save_workflow", True)
    workflow = None
    if register:
        wf_meta = {**(meta or {}), "workflow_type": "TorchModule"}
        if options.get("get_profile"):
            from flowcept_torch.profile import model_profile

            wf_meta["model_profile"] = model_profile(model)
        model.workflow_id = new_uuid()
        workflow = {"workflow_id": model.workflow_id, "name": name, "parent_workflow_id": parent_wf,
                    "campaign_id": campaign, "custom_metadata": wf_meta,
                    "used": {"capture_epochs_at_every": cfg.capture_epochs_at_every, "what": cfg.what,
                             "children_mode": cfg.children_mode if cfg.children else None}}
    else:
        model.workflow_id = parent_wf  # None: forwards belong to the run's workflow
    tmpl = ForwardTemplate(name, PARENT_FORWARD, workflow_id=model.workflow_id, campaign_id=campaign, names=names,
                           custom_metadata=meta)
    st = ModelState(name, tmpl, options.get("parent_task_id"), cfg.capture_epochs_at_every, cfg.children, workflow)
    model._fc = st
    if cfg.children:
        if "telemetry" in cfg.children_mode:
            run = CAPTURE_STATE.run
            if run is not None and run.telemetry is None and run.telemetry_cfg is not None and \
                    not run.telemetry_cfg.enabled:
                get_logger().warning(f"instrumentation.torch.children_mode={cfg.children_mode!r} records telemetry, "
                                     "but telemetry_capture is off: child forwards get none")
        wrap_children(model, st, cfg.children_mode, model.workflow_id, campaign, meta)
    run = CAPTURE_STATE.run
    if run is not None:
        st.announce(run)


def flowcept_torch(cls: type) -> type:
    """Instrument an ``nn.Module`` class: each forward call of its instances becomes a task (see the module
    docstring). Returns a subclass with the same name, module and behaviour; outputs and gradients are unchanged."""
    if not isinstance(cls, type) or not issubclass(cls, nn.Module):
        raise TypeError(f"flowcept_torch decorates a torch.nn.Module subclass; got {cls!r}")
    var_kw, named = _passed_options(cls)
    orig_forward = cls.forward
    names = _input_names(orig_forward)
    name = cls.__name__

    def __init__(self: nn.Module, *args: Any, **kwargs: Any) -> None:
        options = {k: kwargs[k] for k in OPTIONS if k in kwargs}
        if options and not var_kw:
            kwargs = {k: v for k, v in kwargs.items() if k not in options or k in named}
        cls.__init__(self, *args, **kwargs)
        self._fc = None
        _check_options(name, options)
        if not options.get("capture_enabled", True):
            return
        cfg = current_settings()  # a bad settings value raises SettingsError here, naming the key
        if not cfg.enabled or cfg.what is None:
            return
        try:
            _setup(self, name, names, options, cfg)
        except SettingsError:
            raise
        except Exception as e:  # capture must not break building the model
            self._fc = None
            get_logger().error(f"flowcept_torch could not instrument {name}: {error_text(e)}")

    namespace = {
        "__init__": __init__,
        "forward": parent_forward(orig_forward),
        "_fc": None,
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__doc__": cls.__doc__,
        "__flowcept_torch__": True,
    }
    return type(name, (cls,), namespace)
