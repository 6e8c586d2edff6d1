"""Per-function task templates: everything known at decoration time, and turning a captured record into a message.

A decorated call appends a compact tuple ``(template, ...)`` (kinds task and light of flowcept_core.capture.record);
``template.materialize(record, run)`` builds the message dict later, off the caller's path (binding arguments to
parameter names, mapping outputs, sanitizing values).
"""

from __future__ import annotations

from collections.abc import Callable

from flowcept_core.capture.context import error_text
from flowcept_core.capture.record import LIGHT, TASK
from flowcept_core.constants import ERROR, FINISHED
from flowcept_core.ids import new_id
from flowcept_core.serialize import (
    all_plain,
    is_namespace,
    plain_str,
    sanitize,
    sanitize_dict,
)

TYPE_CHECKING = False  # typing is not imported at run time: it costs more than the rest of `import flowcept`
if TYPE_CHECKING:
    from typing import Any

__all__ = ["TaskTemplate", "HANDLED", "error_text", "DECORATOR_OPTIONS", "is_namespace"]

_INF = float("inf")
_UNCHECKED = object()
HANDLED = object()  # marks a record whose used/generated were already built by a custom args_handler
DECORATOR_OPTIONS = (
    "output_names",
    "args_handler",
    "tags",
    "custom_metadata",
    "workflow_id",
    "campaign_id",
    "subtype",
    "activity_id",
)


def _first_attach_telemetry(msg: dict, *args: Any) -> None:
    """Loads flowcept_core.telemetry.summary with the first task that has telemetry and puts its attach_telemetry in
    this one's place: importing flowcept loads no telemetry code."""
    global attach_telemetry
    from flowcept_core.telemetry import summary

    attach_telemetry = summary.attach_telemetry
    attach_telemetry(msg, *args)


attach_telemetry = _first_attach_telemetry


class TaskTemplate:
    """What a decorated function's messages share: activity_id, parameter names, output names, tags, metadata."""

    __slots__ = (
        "activity_id",
        "names",
        "defaults",
        "skip",
        "output_names",
        "args_handler",
        "tags",
        "custom_metadata",
        "subtype",
        "workflow_id",
        "campaign_id",
        "lightweight",
        "width",
        "safe_for",
        "meta",
        "bare",
    )

    def __init__(
        self,
        func: Callable,
        *,
        lightweight: bool = False,
        output_names: Any = None,
        args_handler: Callable | None = None,
        tags: Any = None,
        custom_metadata: dict | None = None,
        workflow_id: str | None = None,
        campaign_id: str | None = None,
        subtype: str | None = None,
        activity_id: str | None = None,
    ):
        self.activity_id = activity_id or getattr(func, "__name__", type(func).__name__)
        self.safe_for: Any = _UNCHECKED  # the redactor none of whose secret words names a parameter or output
        self.meta: tuple = (None, None)  # (limits, custom_metadata sanitized with them): see _metadata
        self.lightweight = lightweight
        self.bare = False  # set by a wrapper that records its one argument as it is, not in a 1-tuple (exact.py)
        self.width = LIGHT.width if lightweight else TASK.width  # length of the flat record a call lays into the buffer
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

    @property
    def record_kind(self) -> str:
        """The record kind packed batches name (flowcept_core.packed): "light" or "task"."""
        return LIGHT.kind if self.lightweight else TASK.kind

    # what state()/from_state() carry: every slot but the call-time handler, the derived caches and bare (a packed
    # record's arguments travel as a tuple)
    _STATE = tuple(k for k in __slots__ if k not in ("args_handler", "safe_for", "meta", "bare"))

    def state(self, sanitize: Callable[[Any], Any]) -> dict:
        """What a consumer needs to build this template's messages (see flowcept_core.packed)."""
        out = {k: getattr(self, k) for k in self._STATE}
        out["defaults"] = sanitize(self.defaults) if self.defaults else {}
        if self.custom_metadata is not None:
            out["custom_metadata"] = sanitize(self.custom_metadata)
        return out

    @classmethod
    def from_state(cls, state: dict) -> TaskTemplate:
        tmpl = cls.__new__(cls)
        for k in cls._STATE:
            setattr(tmpl, k, state.get(k))
        tmpl.names = tuple(tmpl.names or ())
        tmpl.defaults = tmpl.defaults or {}
        tmpl.args_handler = None
        tmpl.safe_for = _UNCHECKED
        tmpl.meta = (None, None)
        tmpl.bare = False
        return tmpl

    def _metadata(self, limits: Any) -> Any:
        """custom_metadata made storable and masked, once per run's limits (not per call)."""
        meta = self.meta
        if meta[0] is not limits:
            meta = self.meta = (limits, sanitize(self.custom_metadata, limits))
        return meta[1]

    def has_secret_params(self, redact: Any) -> bool:
        """True when a parameter or output name is secret for this redactor: such calls take the path that masks
        values by key. A template found clean remembers the redactor (one identity check per call after that)."""
        if self.safe_for is redact:
            return False
        on = self.output_names
        names = (*self.names, *([on] if isinstance(on, str) else (on or ())))
        if redact is not None and redact.secret_names(names):
            return True
        self.safe_for = redact
        return False

    # binding ------------------------------------------------------------------
    def bind(self, args: tuple, kwargs: dict | None) -> dict:
        """used: positional args under their parameter names, kwargs as given, Namespaces flattened, defaults added."""
        names = self.names
        used: dict = {}
        for i in range(self.skip, len(args)):
            a = args[i]
            if is_namespace(a):
                used.update(vars(a))
            else:
                used[names[i] if i < len(names) else f"arg_{i}"] = a
        if kwargs:
            for k, v in kwargs.items():
                if is_namespace(v):
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
    def _used(self, args: tuple, kwargs: Any, limits: Any) -> dict:
        # Fast path (the common case): positional scalars only, no defaults to add.
        if (
            not kwargs
            and not self.defaults
            and not self.skip
            and (self.safe_for is limits.redact or not self.has_secret_params(limits.redact))
        ):
            n = len(args)
            if n == 1 and self.names:
                v = args[0]
                t = type(v)
                if (
                    (t is int and -9223372036854775808 <= v <= 9223372036854775807)
                    or (t is float and -_INF < v < _INF)
                    or t is bool
                    or (t is str and plain_str(v, limits.max_bytes))
                ):
                    return {self.names[0]: v}
            elif n <= len(self.names):
                used = dict(zip(self.names, args, strict=False))
                if all_plain(used.values(), limits.max_bytes):
                    return used
        return sanitize_dict(self.bind(args, kwargs), limits)

    def _generated(self, result: Any, limits: Any) -> dict | None:
        if result is None:
            return None
        t = type(result)
        # signed 64-bit ints and finite floats as literals (LOAD_CONST): this runs for every task
        plain = (
            (t is int and -9223372036854775808 <= result <= 9223372036854775807)
            or (t is float and -_INF < result < _INF)
            or t is bool
            or (t is str and plain_str(result, limits.max_bytes))
        )
        if plain and self.output_names is None:
            return {"arg_0": result}
        generated = self.outputs(result)
        return sanitize_dict(generated, limits) if generated is not None else None

    def materialize(self, rec: list, run: Any) -> dict:
        if self.lightweight:
            return self._materialize_light(rec, run)
        _, tid, parent, t0, t1, args, kwargs, result, err, tel0, tel1 = rec  # TASK's fields, in order
        if self.bare:
            args = (args,)
        limits = run.limits
        if tel0 is None and getattr(run, "telemetry", None) is not None:  # called before the first reading
            tel0 = tel1 = run.telemetry.snapshot
        if kwargs is HANDLED:
            used = sanitize_dict(args, limits) if type(args) is dict else run.sanitize(args)
            generated = run.sanitize(result) if result is not None else None
        else:
            used = self._used(args, kwargs, limits)
            generated = self._generated(result, limits) if err is None else None
        fmt = run.format_id
        msg = {
            "type": "task",
            "task_id": fmt(tid),
            "activity_id": self.activity_id,
            "workflow_id": self.workflow_id or run.workflow_id,
            "campaign_id": self.campaign_id or run.campaign_id,
            "used": used,
            "started_at": t0,
            "ended_at": t1,
            "status": FINISHED if err is None else ERROR,
        }
        if "workflow_id" in used or "campaign_id" in used:
            self._ids_from_call(msg, used)
        if generated is not None:
            msg["generated"] = generated
        if err is not None:
            msg["stderr"] = err if limits.redact is None else limits.redact.mask_urls(err)
        if parent is not None:
            msg["parent_task_id"] = run.format_id(parent) if type(parent) is int else parent
        if self.tags is not None:
            msg["tags"] = self.tags
        if self.custom_metadata is not None:
            msg["custom_metadata"] = self._metadata(limits)
        if self.subtype is not None:
            msg["subtype"] = self.subtype
        if run.enrich:
            msg.update(run.host_fields)
        # last: stores pack a snapshot shared by many tasks once per batch when it ends the document
        if tel0 is not None or tel1 is not None:
            attach_telemetry(msg, tel0, tel1, t0, t1, run)
        return msg

    def _materialize_light(self, rec: list, run: Any) -> dict:
        _, parent, t1, args, kwargs, result, err = rec  # LIGHT's fields, in order
        if self.bare:
            args = (args,)
        limits = run.limits
        used = self._used(args, kwargs, limits)
        msg = {
            "type": "task",
            "task_id": new_id(),
            "activity_id": self.activity_id,
            "workflow_id": self.workflow_id or run.workflow_id,
            "used": used,
            "ended_at": t1,
            "status": FINISHED if err is None else ERROR,
        }
        if "workflow_id" in used or "campaign_id" in used:
            self._ids_from_call(msg, used)
        generated = self._generated(result, limits) if err is None else None
        if generated is not None:
            msg["generated"] = generated
        if err is not None:
            msg["stderr"] = err if limits.redact is None else limits.redact.mask_urls(err)
        if parent is not None:
            msg["parent_task_id"] = run.format_id(parent) if type(parent) is int else parent
        return msg

    @staticmethod
    def _ids_from_call(msg: dict, used: dict) -> None:
        """A workflow_id / campaign_id keyword given to the call itself overrides the run's (then leaves used)."""
        wf = used.pop("workflow_id", None)
        camp = used.pop("campaign_id", None)
        if wf:
            msg["workflow_id"] = wf
        if camp:
            msg["campaign_id"] = camp


def _parameters(func: Callable) -> tuple[tuple[str, ...], dict, int]:
    """Positional parameter names, defaults of parameters, and 1 if the first parameter is self/cls.

    Read from the code object (cheap, no inspect import); other callables fall back to inspect.signature.
    """
    target = getattr(func, "__wrapped__", func)
    code = getattr(target, "__code__", None)
    if code is None:
        return _parameters_by_signature(func)
    n_pos = code.co_argcount
    names = code.co_varnames[:n_pos]
    defaults: dict = {}
    pos_defaults = getattr(target, "__defaults__", None) or ()
    if pos_defaults:
        defaults.update(zip(names[n_pos - len(pos_defaults) :], pos_defaults, strict=True))
    defaults.update(getattr(target, "__kwdefaults__", None) or {})
    skip = 1 if names and names[0] in ("self", "cls") else 0
    return tuple(names), defaults, skip


def _parameters_by_signature(func: Callable) -> tuple[tuple[str, ...], dict, int]:
    import inspect

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
