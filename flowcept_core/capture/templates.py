"""Per-function task templates: everything known at decoration time, and turning a captured record into a message.

A decorated call appends a compact tuple ``(template, ...)``; ``template.materialize(record, run)`` builds the message
dict later, off the caller's path (binding arguments to parameter names, mapping outputs, sanitizing values).
"""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable
from typing import Any

from flowcept_core.ids import format_id, new_id
from flowcept_core.serialize import sanitize_dict

__all__ = ["TaskTemplate", "HANDLED", "error_text", "DECORATOR_OPTIONS"]

HANDLED = object()  # marks a record whose used/generated were already built by a custom args_handler
FINISHED, ERROR = "FINISHED", "ERROR"
DECORATOR_OPTIONS = ("output_names", "args_handler", "tags", "custom_metadata", "workflow_id", "campaign_id",
                     "subtype", "activity_id")


def error_text(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


def _as_id(v: Any) -> Any:
    return format_id(v) if type(v) is int else v


class TaskTemplate:
    """What a decorated function's messages share: activity_id, parameter names, output names, tags, metadata."""

    __slots__ = ("activity_id", "names", "defaults", "skip", "output_names", "args_handler", "tags",
                 "custom_metadata", "subtype", "workflow_id", "campaign_id", "lightweight", "width")

    def __init__(self, func: Callable, *, lightweight: bool = False, output_names: Any = None,
                 args_handler: Callable | None = None, tags: Any = None, custom_metadata: dict | None = None,
                 workflow_id: str | None = None, campaign_id: str | None = None, subtype: str | None = None,
                 activity_id: str | None = None):
        self.activity_id = activity_id or getattr(func, "__name__", type(func).__name__)
        self.lightweight = lightweight
        self.width = 7 if lightweight else 11  # length of the flat record a call lays into the buffer
        self.names, self.defaults, self.skip = _parameters(func)
        if output_names is not None and not isinstance(output_names, (str, list, tuple)):
            raise TypeError(f"output_names={output_names!r} must be a str or a list/tuple of str")
        self.output_names = output_names
        if args_handler is not None and not callable(args_handler):
            raise TypeError(f"args_handler={args_handler!r} is not callable")
        self.args_handler = args_handler
        if tags is not None and not isinstance(tags, (str, list, tuple)):
            raise TypeError(f"tags={tags!r} must be a str or a list of str")
        self.tags = [tags] if isinstance(tags, str) else (list(tags) if tags is not None else None)
        if custom_metadata is not None and not isinstance(custom_metadata, dict):
            raise TypeError(f"custom_metadata={custom_metadata!r} must be a dict")
        self.custom_metadata = custom_metadata
        self.subtype = subtype
        self.workflow_id = workflow_id
        self.campaign_id = campaign_id

    # binding ------------------------------------------------------------------
    def bind(self, args: tuple, kwargs: dict | None) -> dict:
        """used: positional args under their parameter names, kwargs as given, Namespaces flattened, defaults added."""
        names = self.names
        used: dict = {}
        for i in range(self.skip, len(args)):
            a = args[i]
            if isinstance(a, argparse.Namespace):
                used.update(vars(a))
            else:
                used[names[i] if i < len(names) else f"arg_{i}"] = a
        if kwargs:
            for k, v in kwargs.items():
                if isinstance(v, argparse.Namespace):
                    used.update(vars(v))
                else:
                    used[k] = v
        if self.defaults:
            for k, v in self.defaults.items():
                if k not in used:
                    used[k] = v
        return used

    def outputs(self, result: Any) -> dict | None:
        """generated: mapped by output_names, a returned dict as is, else arg_0.. for each returned value."""
        if result is None:
            return None
        on = self.output_names
        if on is not None:
            if isinstance(on, str):
                return {on: result}
            if isinstance(result, (tuple, list)) and len(result) == len(on):
                return dict(zip(on, result, strict=True))
            if len(on) == 1:
                return {on[0]: result}
        if isinstance(result, dict):
            return dict(result)
        if type(result) is tuple:
            return {f"arg_{i}": v for i, v in enumerate(result)}
        return {"arg_0": result}

    def handle(self, args: tuple, kwargs: dict, result: Any) -> tuple[dict, dict | None]:
        """Apply a custom args_handler at call time (it may drop big values the user does not want kept)."""
        handler = self.args_handler
        used = handler(*args, **kwargs)
        if result is None:
            return used, None
        on = self.output_names
        if isinstance(result, dict):
            return used, handler(**result)
        if on is not None:
            mapped = self.outputs(result)
            return used, handler(**mapped) if mapped is not None else None
        return used, handler(result)

    # materialization ----------------------------------------------------------------
    def materialize(self, rec: tuple, run: Any) -> dict:
        if self.lightweight:
            return self._materialize_light(rec, run)
        _, tid, parent, t0, t1, args, kwargs, result, err, tel0, tel1 = rec
        if kwargs is HANDLED:
            used, generated = args, result
        else:
            used, generated = self.bind(args, kwargs), (self.outputs(result) if err is None else None)
        msg = self._base(used, generated, run)
        msg["task_id"] = format_id(tid)
        msg["started_at"] = t0
        msg["ended_at"] = t1
        msg["status"] = FINISHED if err is None else ERROR
        if err is not None:
            msg["stderr"] = err
        if parent is not None:
            msg["parent_task_id"] = _as_id(parent)
        if tel0 is not None:
            msg["telemetry_at_start"] = tel0
        if tel1 is not None:
            msg["telemetry_at_end"] = tel1
        if run.enrich:
            msg.update(run.host_fields)
        return msg

    def _materialize_light(self, rec: tuple, run: Any) -> dict:
        _, parent, t1, args, kwargs, result, err = rec
        msg = self._base(self.bind(args, kwargs), self.outputs(result) if err is None else None, run)
        msg["task_id"] = new_id()
        msg["ended_at"] = t1
        msg["status"] = FINISHED if err is None else ERROR
        if err is not None:
            msg["stderr"] = err
        if parent is not None:
            msg["parent_task_id"] = _as_id(parent)
        return msg

    def _base(self, used: dict, generated: dict | None, run: Any) -> dict:
        limits = run.limits
        if used:
            wf = used.pop("workflow_id", None) if "workflow_id" in used else None
            camp = used.pop("campaign_id", None) if "campaign_id" in used else None
            used = sanitize_dict(used, limits) if type(used) is dict else run.sanitize(used)
        else:
            wf = camp = None
        msg = {"type": "task", "activity_id": self.activity_id,
               "workflow_id": wf or self.workflow_id or run.workflow_id, "used": used}
        camp = camp or self.campaign_id or run.campaign_id
        if camp is not None:
            msg["campaign_id"] = camp
        if generated is not None:
            msg["generated"] = sanitize_dict(generated, limits) if type(generated) is dict else run.sanitize(generated)
        if self.tags is not None:
            msg["tags"] = self.tags
        if self.custom_metadata is not None:
            msg["custom_metadata"] = self.custom_metadata
        if self.subtype is not None:
            msg["subtype"] = self.subtype
        return msg


def _parameters(func: Callable) -> tuple[tuple[str, ...], dict, int]:
    """Positional parameter names, defaults of parameters, and 1 if the first parameter is self/cls."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return (), {}, 0
    names, defaults = [], {}
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
        if p.default is not p.empty and p.kind is not p.VAR_POSITIONAL and p.kind is not p.VAR_KEYWORD:
            defaults[p.name] = p.default
    skip = 1 if names and names[0] in ("self", "cls") else 0
    return tuple(names), defaults, skip
