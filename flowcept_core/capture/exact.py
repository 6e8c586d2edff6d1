"""The wrappers of @flowcept_task, @telemetry_flowcept_task and @lightweight_flowcept_task, generated at decoration
time from one template per record kind: plain or ``async def``, with the run's telemetry snapshots or a reading at
both ends of the call, with the call's values or an args_handler's.

A decorated call with capture active reads STATE.run and the parent ContextVar, takes a counter id and the clock,
calls the function and lays one flat record into the buffer; with no active Flowcept it just calls the function.

A ``def wrapper(*args, **kwargs)`` costs every call a new kwargs dict and two argument unpackings
(``func(*args, **kwargs)``): about a third of a lightweight task's overhead. For a function whose parameters are all
positional-or-keyword (no ``*args``, ``**kwargs``, keyword-only or positional-only parameters), the wrapper gets
the same parameters and defaults, so Python binds the call exactly as it would for the function itself (same errors
for a wrong call), and the record holds the arguments as one positional tuple, in parameter order, with kwargs None
(a function of one parameter: its value as it is, and the template's ``bare`` is set; a 1-tuple per call costs an
allocation and the collector's attention, about a fifth of such a call's overhead).
Any other signature gets the same code with ``(*args, **kwargs)``.

Every name the generated code uses starts with ``_fc_`` (builtins too: a parameter may be called ``next``); a
parameter named like that gets the generic form.
"""

from __future__ import annotations

import functools
import keyword
from collections.abc import Callable
from time import time
from types import FunctionType

from flowcept_core.capture import portable
from flowcept_core.capture.context import PARENT, STATE
from flowcept_core.capture.record import LIGHT, TASK
from flowcept_core.capture.templates import HANDLED, error_text
from flowcept_core.ids import COUNTER

TYPE_CHECKING = False  # typing is not imported at run time: it costs more than the rest of `import flowcept`
if TYPE_CHECKING:
    from typing import Any

__all__ = ["generated_wrapper"]

portable.register()  # wrappers of functions defined in __main__ can be sent to other processes (cloudpickle)

_CO_VARARGS, _CO_VARKEYWORDS, _CO_COROUTINE, _CO_GENERATOR = 0x04, 0x08, 0x80, 0x20

_FULL = """
{async_}def _fc_wrapper({params}):
    _fc_run = _fc_state.run
    if _fc_run is None:
        return {await_}_fc_func({call})
    _fc_tid = _fc_next(_fc_counter)
    _fc_parent = _fc_parent_of()
    _fc_token = _fc_set_parent(_fc_tid)
    {start}
    _fc_t0 = _fc_time()
    try:
        _fc_result = {await_}_fc_func({call})
    except _fc_BaseException as _fc_e:
        _fc_t1 = _fc_time()
        _fc_reset_parent(_fc_token)
        {on_error}
        raise
    _fc_t1 = _fc_time()
    _fc_reset_parent(_fc_token)
    {on_return}
    return _fc_result
"""

# the common case: the run's sampler snapshot (if any) at both ends, the call's own values in the record
_PLAIN = {
    "start": "_fc_tel = _fc_run.telemetry",
    "on_error": """_fc_snap = _fc_tel.snapshot if _fc_tel is not None else None
        _fc_run.extend({record_error})""",
    "on_return": """if _fc_tel is None:
        _fc_run.extend({record_plain})
    else:
        _fc_snap = _fc_tel.snapshot
        _fc_run.extend({record_telemetry})""",
}

# args_handler and @telemetry_flowcept_task: a telemetry reading function at both ends, values through the handler
_CUSTOM = {
    "start": "_fc_tel0 = _fc_telemetry(_fc_run)",
    "on_error": """_fc_tel1 = _fc_telemetry(_fc_run) if _fc_tel0 is not None else None
        _fc_a, _fc_k, _fc_r = {values_error}
        _fc_run.extend({record_error})""",
    "on_return": """_fc_tel1 = _fc_telemetry(_fc_run) if _fc_tel0 is not None else None
    _fc_a, _fc_k, _fc_r = {values_plain}
    _fc_run.extend({record_plain})""",
}

_LIGHT = """
{async_}def _fc_wrapper({params}):
    _fc_run = _fc_state.run
    if _fc_run is None:
        return {await_}_fc_func({call})
    try:
        _fc_result = {await_}_fc_func({call})
    except _fc_BaseException as _fc_e:
        _fc_run.extend({record_error})
        raise
    _fc_run.extend({record_plain})
    return _fc_result
"""


def _snapshot(run: Any) -> Any:
    """The run's current sampler snapshot (None without telemetry)."""
    tel = run.telemetry
    return tel.snapshot if tel is not None else None


def _handled(tmpl: Any) -> Callable:
    """Runs tmpl's args_handler on a call's values; a failing handler is logged and recorded, never raised into the
    user's code. Returns (used, HANDLED, generated): the record's args, kwargs and result."""

    def handled(args: tuple, kwargs: dict, result: Any) -> tuple:
        try:
            used, generated = tmpl.handle(args, kwargs, result)
            return used, HANDLED, generated
        except Exception as e:
            from flowcept_core.logger import get_logger

            get_logger().error(f"args_handler of {tmpl.activity_id} failed: {error_text(e)}")
            return {"args_handler_error": error_text(e)}, HANDLED, None

    return handled


def _plain_parameters(func: Callable, is_async: bool) -> tuple[list[str], tuple] | None:
    """(parameter names, defaults) when every parameter is positional-or-keyword, else None."""
    if not isinstance(func, FunctionType):  # a plain Python function (not a builtin, partial, class...)
        return None
    code = func.__code__
    if code.co_flags & (_CO_VARARGS | _CO_VARKEYWORDS | _CO_GENERATOR | (0 if is_async else _CO_COROUTINE)):
        return None
    if code.co_posonlyargcount or code.co_kwonlyargcount:
        return None
    names = list(code.co_varnames[: code.co_argcount])
    if any(n.startswith("_fc_") or keyword.iskeyword(n) or not n.isidentifier() for n in names):
        return None
    return names, func.__defaults__ or ()


def _records(lightweight: bool, args: str, kwargs: str, custom: bool) -> dict[str, str]:
    """The record tuples of the generated code, in the field order of their layout (flowcept_core.capture.record)."""
    if lightweight:
        common = {
            "template": "_fc_tmpl",
            "parent": "_fc_parent_of()",
            "ended_at": "_fc_time()",
            "args": args,
            "kwargs": kwargs,
        }
        return {
            "record_error": LIGHT.source(**common, result="None", error="_fc_error_text(_fc_e)"),
            "record_plain": LIGHT.source(**common, result="_fc_result", error="None"),
        }
    common = {"template": "_fc_tmpl", "task_id": "_fc_tid", "parent": "_fc_parent", "started_at": "_fc_t0"}
    common["ended_at"] = "_fc_t1"
    if custom:  # values through the args_handler (or as they are), telemetry read at both ends
        values = "_fc_handled({}, {}, {})" if custom == "handler" else "{}, {}, {}"
        common.update(args="_fc_a", kwargs="_fc_k", result="_fc_r", telemetry_at_start="_fc_tel0")
        common["telemetry_at_end"] = "_fc_tel1"
        return {
            "values_error": values.format(args, kwargs, "None"),
            "values_plain": values.format(args, kwargs, "_fc_result"),
            "record_error": TASK.source(**common, error="_fc_error_text(_fc_e)"),
            "record_plain": TASK.source(**common, error="None"),
        }
    common.update(args=args, kwargs=kwargs)
    return {
        "record_error": TASK.source(
            **common,
            result="None",
            error="_fc_error_text(_fc_e)",
            telemetry_at_start="_fc_snap",
            telemetry_at_end="_fc_snap",
        ),
        "record_plain": TASK.source(
            **common, result="_fc_result", error="None", telemetry_at_start="None", telemetry_at_end="None"
        ),
        "record_telemetry": TASK.source(
            **common, result="_fc_result", error="None", telemetry_at_start="_fc_snap", telemetry_at_end="_fc_snap"
        ),
    }


def generated_wrapper(
    func: Callable, tmpl: Any, lightweight: bool, *, is_async: bool = False, fresh_telemetry: bool = False
) -> Callable:
    """The wrapper of func (``async def`` when is_async): with func's own parameters when they are plain (see the
    module docstring) and no args_handler is set, else with ``(*args, **kwargs)``. With fresh_telemetry, the process's
    CPU times are read at both ends of each call (@telemetry_flowcept_task)."""
    namespace: dict[str, Any] = {
        "_fc_state": STATE,
        "_fc_func": func,
        "_fc_tmpl": tmpl,
        "_fc_time": time,
        "_fc_counter": COUNTER,
        "_fc_parent_of": PARENT.get,
        "_fc_set_parent": PARENT.set,
        "_fc_reset_parent": PARENT.reset,
        "_fc_error_text": error_text,
        "_fc_next": next,
        "_fc_BaseException": BaseException,
    }
    custom = None if lightweight else ("handler" if tmpl.args_handler is not None else None)
    if fresh_telemetry and not lightweight:
        from flowcept_core.telemetry.sampler import fresh_reading  # at decoration time: not loaded by `import flowcept`

        namespace["_fc_telemetry"] = lambda run: fresh_reading(run.telemetry)
        custom = custom or "values"
    elif custom:
        namespace["_fc_telemetry"] = _snapshot
    if custom == "handler":
        namespace["_fc_handled"] = _handled(tmpl)
    # an args_handler is called as the function was (its keyword arguments as keywords): the generic form
    plain = None if custom == "handler" else _plain_parameters(func, is_async)
    if plain is None:
        params = call = "*_fc_args, **_fc_kwargs"
        args, kwargs = "_fc_args", "_fc_kwargs"
    else:
        names, defaults = plain
        first_default = len(names) - len(defaults)
        parts = []
        for i, name in enumerate(names):
            if i >= first_default:
                namespace[f"_fc_default_{i}"] = defaults[i - first_default]
                parts.append(f"{name}=_fc_default_{i}")
            else:
                parts.append(name)
        params, call = ", ".join(parts), ", ".join(names)
        args, kwargs = (f"({call},)" if names else "()"), "None"
        if len(names) == 1 and not custom:  # its value as it is: no 1-tuple per call (TaskTemplate.bare)
            args = call
            tmpl.bare = True
    records = _records(lightweight, args, kwargs, custom)
    if lightweight:
        body = {}
    else:
        parts = _CUSTOM if custom else _PLAIN
        body = {k: v.format(**records) for k, v in parts.items()}
    template = _LIGHT if lightweight else _FULL
    async_, await_ = ("async ", "await ") if is_async else ("", "")
    source = template.format(params=params, call=call, async_=async_, await_=await_, **body, **records)
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or type(func).__name__
    exec(compile(source, f"<flowcept wrapper of {name}>", "exec"), namespace)  # noqa: S102
    return functools.wraps(func)(namespace["_fc_wrapper"])
