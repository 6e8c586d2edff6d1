"""The synchronous wrappers of @flowcept_task and @lightweight_flowcept_task, generated at decoration time.

A decorated call with capture active reads STATE.run and the parent ContextVar, takes a counter id and the clock,
calls the function and lays one flat record into the buffer; with no active Flowcept it just calls the function.

A ``def wrapper(*args, **kwargs)`` costs every call a new kwargs dict and two argument unpackings
(``func(*args, **kwargs)``): about a third of a lightweight task's overhead. For a function whose parameters are all
positional-or-keyword (no ``*args``, ``**kwargs``, keyword-only or positional-only parameters), the wrapper gets
the same parameters and defaults, so Python binds the call exactly as it would for the function itself (same errors
for a wrong call), and the record holds the arguments as one positional tuple, in parameter order, with kwargs None.
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

from flowcept_core.capture.context import PARENT, STATE
from flowcept_core.capture.record import LIGHT, TASK
from flowcept_core.capture.templates import error_text
from flowcept_core.ids import COUNTER

TYPE_CHECKING = False  # typing is not imported at run time: it costs more than the rest of `import flowcept`
if TYPE_CHECKING:
    from typing import Any

__all__ = ["generated_wrapper"]

_CO_VARARGS, _CO_VARKEYWORDS, _CO_COROUTINE, _CO_GENERATOR = 0x04, 0x08, 0x80, 0x20

_FULL = """
def _fc_wrapper({params}):
    _fc_run = _fc_state.run
    if _fc_run is None:
        return _fc_func({call})
    _fc_tid = _fc_next(_fc_counter)
    _fc_parent = _fc_parent_of()
    _fc_token = _fc_set_parent(_fc_tid)
    _fc_tel = _fc_run.telemetry
    _fc_t0 = _fc_time()
    try:
        _fc_result = _fc_func({call})
    except _fc_BaseException as _fc_e:
        _fc_t1 = _fc_time()
        _fc_reset_parent(_fc_token)
        _fc_snap = _fc_tel.snapshot if _fc_tel is not None else None
        _fc_run.extend({record_error})
        raise
    _fc_t1 = _fc_time()
    _fc_reset_parent(_fc_token)
    if _fc_tel is None:
        _fc_run.extend({record_plain})
    else:
        _fc_snap = _fc_tel.snapshot
        _fc_run.extend({record_telemetry})
    return _fc_result
"""

_LIGHT = """
def _fc_wrapper({params}):
    _fc_run = _fc_state.run
    if _fc_run is None:
        return _fc_func({call})
    try:
        _fc_result = _fc_func({call})
    except _fc_BaseException as _fc_e:
        _fc_run.extend({record_error})
        raise
    _fc_run.extend({record_plain})
    return _fc_result
"""


def _plain_parameters(func: Callable) -> tuple[list[str], tuple] | None:
    """(parameter names, defaults) when every parameter is positional-or-keyword, else None."""
    if not isinstance(func, FunctionType):  # a plain Python function (not a builtin, partial, class...)
        return None
    code = func.__code__
    if code.co_flags & (_CO_VARARGS | _CO_VARKEYWORDS | _CO_COROUTINE | _CO_GENERATOR):
        return None
    if code.co_posonlyargcount or code.co_kwonlyargcount:
        return None
    names = list(code.co_varnames[: code.co_argcount])
    if any(n.startswith("_fc_") or keyword.iskeyword(n) or not n.isidentifier() for n in names):
        return None
    return names, func.__defaults__ or ()


def _records(lightweight: bool, args: str, kwargs: str) -> dict[str, str]:
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
    common = {
        "template": "_fc_tmpl",
        "task_id": "_fc_tid",
        "parent": "_fc_parent",
        "started_at": "_fc_t0",
        "ended_at": "_fc_t1",
        "args": args,
        "kwargs": kwargs,
    }
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


def generated_wrapper(func: Callable, tmpl: Any, lightweight: bool) -> Callable:
    """The wrapper of a synchronous func: with func's own parameters when they are plain (see the module
    docstring), else with ``(*args, **kwargs)``."""
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
    plain = _plain_parameters(func)
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
    source = (_LIGHT if lightweight else _FULL).format(params=params, call=call, **_records(lightweight, args, kwargs))
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or type(func).__name__
    exec(compile(source, f"<flowcept wrapper of {name}>", "exec"), namespace)  # noqa: S102
    return functools.wraps(func)(namespace["_fc_wrapper"])
