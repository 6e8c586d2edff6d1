"""Decorated-call wrappers with the function's own parameter list, for the common plain signatures.

A ``def wrapper(*args, **kwargs)`` costs every call a new kwargs dict and two argument unpackings
(``func(*args, **kwargs)``): about a third of a lightweight task's overhead. For a function whose parameters are all
positional-or-keyword (no ``*args``, ``**kwargs``, keyword-only or positional-only parameters), the wrapper is built
once at decoration time with the same parameters and defaults, so Python binds the call exactly as it would for the
function itself (same errors for a wrong call), and the record holds the arguments as one positional tuple, in
parameter order, with kwargs None. Anything else keeps the generic wrappers in decorators.py.

The generated code does what decorators._full / decorators._light do; the names it uses start with ``_fc_`` and a
parameter named like that keeps the generic wrapper.
"""

from __future__ import annotations

import functools
import keyword
from collections.abc import Callable
from time import time
from typing import Any

from flowcept_core.capture.context import PARENT, STATE
from flowcept_core.capture.templates import error_text
from flowcept_core.ids import COUNTER

__all__ = ["exact_wrapper"]

_CO_VARARGS, _CO_VARKEYWORDS, _CO_COROUTINE, _CO_GENERATOR = 0x04, 0x08, 0x80, 0x20

_FULL = """
def _fc_wrapper({params}):
    _fc_run = _fc_state.run
    if _fc_run is None:
        return _fc_func({call})
    _fc_tid = next(_fc_counter)
    _fc_parent = _fc_parent_of()
    _fc_token = _fc_set_parent(_fc_tid)
    _fc_tel = _fc_run.telemetry
    _fc_t0 = _fc_time()
    try:
        _fc_result = _fc_func({call})
    except BaseException as _fc_e:
        _fc_t1 = _fc_time()
        _fc_reset_parent(_fc_token)
        _fc_snap = _fc_tel.snapshot if _fc_tel is not None else None
        _fc_run.extend((_fc_tmpl, _fc_tid, _fc_parent, _fc_t0, _fc_t1, {args}, None, None, _fc_error_text(_fc_e),
                        _fc_snap, _fc_snap))
        raise
    _fc_t1 = _fc_time()
    _fc_reset_parent(_fc_token)
    if _fc_tel is None:
        _fc_run.extend((_fc_tmpl, _fc_tid, _fc_parent, _fc_t0, _fc_t1, {args}, None, _fc_result, None, None, None))
    else:
        _fc_snap = _fc_tel.snapshot
        _fc_run.extend((_fc_tmpl, _fc_tid, _fc_parent, _fc_t0, _fc_t1, {args}, None, _fc_result, None, _fc_snap,
                        _fc_snap))
    return _fc_result
"""

_LIGHT = """
def _fc_wrapper({params}):
    _fc_run = _fc_state.run
    if _fc_run is None:
        return _fc_func({call})
    try:
        _fc_result = _fc_func({call})
    except BaseException as _fc_e:
        _fc_run.extend((_fc_tmpl, _fc_parent_of(), _fc_time(), {args}, None, None, _fc_error_text(_fc_e)))
        raise
    _fc_run.extend((_fc_tmpl, _fc_parent_of(), _fc_time(), {args}, None, _fc_result, None))
    return _fc_result
"""


def _plain_parameters(func: Callable) -> tuple[list[str], tuple] | None:
    """(parameter names, defaults) when every parameter is positional-or-keyword, else None."""
    if not isinstance(func, type(_plain_parameters)):  # a plain Python function (not a builtin, partial, class...)
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


def exact_wrapper(func: Callable, tmpl: Any, lightweight: bool) -> Callable | None:
    """The wrapper for func with func's own parameters (see the module docstring), or None when its signature is
    not plain."""
    plain = _plain_parameters(func)
    if plain is None:
        return None
    names, defaults = plain
    namespace: dict[str, Any] = {
        "_fc_state": STATE, "_fc_func": func, "_fc_tmpl": tmpl, "_fc_time": time, "_fc_counter": COUNTER,
        "_fc_parent_of": PARENT.get, "_fc_set_parent": PARENT.set, "_fc_reset_parent": PARENT.reset,
        "_fc_error_text": error_text,
    }
    params = []
    first_default = len(names) - len(defaults)
    for i, name in enumerate(names):
        if i >= first_default:
            namespace[f"_fc_default_{i}"] = defaults[i - first_default]
            params.append(f"{name}=_fc_default_{i}")
        else:
            params.append(name)
    call = ", ".join(names)
    args = f"({call},)" if names else "()"
    source = (_LIGHT if lightweight else _FULL).format(params=", ".join(params), call=call, args=args)
    exec(compile(source, f"<flowcept wrapper of {func.__qualname__}>", "exec"), namespace)  # noqa: S102
    return functools.wraps(func)(namespace["_fc_wrapper"])
