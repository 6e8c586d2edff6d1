"""What the worker, scheduler and client sides of the Dask adapter share: names, the per-task record a worker makes,
and the helpers that name a call's inputs and outputs.

A worker record travels as bytes (``flowcept_core.plugin.encode_batch``), so any value a task takes or returns crosses
Dask's msgpack channels safely; the client decodes it with ``decode_batch``.
"""

from __future__ import annotations

import inspect
from typing import Any

from flowcept_core.plugin import encode_batch

__all__ = ["METADATA_KEY", "WORKER_PLUGIN_NAME", "SCHEDULER_PLUGIN_NAME", "ERRORS_TOPIC", "RUNNING_TOPIC", "task_id_of",
           "function_name", "inputs_by_name", "outputs_by_name", "encode_record", "decode_record"]

METADATA_KEY = "flowcept-dask"  # scheduler metadata: the active capture's configuration (see interceptor)
WORKER_PLUGIN_NAME = "flowcept-dask-worker"
SCHEDULER_PLUGIN_NAME = "flowcept-dask-scheduler"
ERRORS_TOPIC = "flowcept-dask-worker-errors"  # worker -> scheduler plugin: records of tasks that raised
RUNNING_TOPIC = "flowcept-dask-worker-running"  # worker -> scheduler plugin: batches of tasks executing

_PARAMS: dict[Any, tuple[tuple[str, ...], str | None, dict[str, Any]]] = {}


def task_id_of(key: Any) -> str:
    """The task_id of a Dask key: the key itself when it is a string, else its text (tuple keys of collections)."""
    return key if type(key) is str else str(key)


def function_name(func: Any, key: Any = None) -> str:
    """The activity_id of task key running func (functools.partial and callable objects are unwrapped; for a
    subgraph Dask fused into one task, the key's name)."""
    if key is not None and getattr(func, "__name__", "") == "_execute_subgraph":
        from dask.utils import key_split

        return key_split(key)
    seen = 0
    while hasattr(func, "func") and not hasattr(func, "__name__") and seen < 5:  # partial, curry
        func, seen = func.func, seen + 1
    name = getattr(func, "__name__", None) or type(func).__name__
    return name if name != "<lambda>" else "lambda"


def _parameters(func: Any) -> tuple[tuple[str, ...], str | None, dict[str, Any]]:
    """(positional parameter names, *args name, defaults) of func, computed once per function."""
    try:
        return _PARAMS[func]
    except (KeyError, TypeError):
        pass
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        found: tuple[tuple[str, ...], str | None, dict[str, Any]] = ((), None, {})
    else:
        names = tuple(p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
        varargs = next((p.name for p in params if p.kind is p.VAR_POSITIONAL), None)
        defaults = {p.name: p.default for p in params
                    if p.default is not p.empty and p.kind is not p.VAR_KEYWORD}
        found = (names, varargs, defaults)
    try:
        _PARAMS[func] = found
    except TypeError:  # an unhashable callable: computed again next time
        pass
    return found


def inputs_by_name(func: Any, args: tuple, kwargs: dict) -> dict[str, Any]:
    """used: positional args under their parameter names (extra ones as ``<*args name>_<i>`` or ``arg_<i>``), keyword
    args as given, and the defaults of parameters the call left out."""
    names, varargs, defaults = _parameters(func)
    used: dict[str, Any] = {}
    for i, value in enumerate(args):
        if i < len(names):
            used[names[i]] = value
        else:
            used[f"{varargs}_{i - len(names)}" if varargs else f"arg_{i}"] = value
    if kwargs:
        used.update(kwargs)
    for name, value in defaults.items():
        used.setdefault(name, value)
    return used


def outputs_by_name(result: Any) -> dict[str, Any] | None:
    """generated, as decorated functions record it: a returned dict as is, a tuple as arg_0.., else arg_0."""
    if result is None:
        return None
    if isinstance(result, dict):
        return dict(result)
    if type(result) is tuple:
        return {f"arg_{i}": v for i, v in enumerate(result)}
    return {"arg_0": result}


def encode_record(record: dict) -> bytes:
    """The bytes a worker record travels as (values msgpack cannot carry are made safe)."""
    return encode_batch([record])


def decode_record(blob: Any) -> dict:
    """The worker record back from encode_record's bytes ({} for anything else)."""
    if not isinstance(blob, bytes | bytearray):
        return {}
    from flowcept_core.plugin import decode_batch

    records = decode_batch(bytes(blob))
    return records[0] if records else {}
