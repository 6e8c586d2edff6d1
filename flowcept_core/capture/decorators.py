"""@flowcept_task, @lightweight_flowcept_task, @telemetry_flowcept_task and @flowcept (workflow main).

A decorated call with capture active does: read STATE.run and the parent ContextVar, take a counter id, two
clock readings, lay one flat record into the buffer. With no active Flowcept (or instrumentation disabled) it
just calls the function. Every wrapper, sync or async, with or without args_handler or per-call telemetry, is
generated from one template (flowcept_core.capture.exact). All three task decorators share TaskTemplate and differ
only in the fields they record.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from flowcept_core.capture.exact import generated_wrapper
from flowcept_core.capture.templates import DECORATOR_OPTIONS, TaskTemplate

TYPE_CHECKING = False  # typing is not imported at run time: it costs more than the rest of `import flowcept`
if TYPE_CHECKING:
    from typing import Any

__all__ = ["flowcept_task", "lightweight_flowcept_task", "telemetry_flowcept_task", "flowcept"]


def _is_coroutine_function(f: Callable) -> bool:
    code = getattr(getattr(f, "__wrapped__", f), "__code__", None)
    return code is not None and bool(code.co_flags & 0x80)  # CO_COROUTINE


def _check_options(name: str, options: dict) -> None:
    bad = sorted(set(options) - set(DECORATOR_OPTIONS))
    if bad:
        raise TypeError(f"{name}() got unknown option(s) {bad}; allowed: {list(DECORATOR_OPTIONS)}")


def _full(func: Callable, tmpl: TaskTemplate, fresh_telemetry: bool) -> Callable:
    return generated_wrapper(
        func, tmpl, lightweight=False, is_async=_is_coroutine_function(func), fresh_telemetry=fresh_telemetry
    )


def _light(func: Callable, tmpl: TaskTemplate) -> Callable:
    return generated_wrapper(func, tmpl, lightweight=True, is_async=_is_coroutine_function(func))


def _decorator(name: str, func: Callable | None, options: dict, build: Callable) -> Any:
    _check_options(name, options)
    if func is not None and not callable(func):
        raise TypeError(f"{name} decorates a function; got {func!r}")

    def decorate(f: Callable) -> Callable:
        if not callable(f):
            raise TypeError(f"{name} decorates a function; got {f!r}")
        return build(f, options)

    return decorate(func) if func is not None else decorate


def flowcept_task(func: Callable | None = None, **decorator_kwargs: Any) -> Any:
    """Capture each call as a task: used (arguments), generated (result), timing, status, parent, telemetry.

    Options: output_names, args_handler, tags, custom_metadata, workflow_id, campaign_id, subtype, activity_id.
    A ``workflow_id=`` / ``campaign_id=`` keyword passed to the call itself overrides the workflow's ids.
    """
    return _decorator(
        "flowcept_task", func, decorator_kwargs, lambda f, o: _full(f, TaskTemplate(f, **o), fresh_telemetry=False)
    )


def telemetry_flowcept_task(func: Callable | None = None, **decorator_kwargs: Any) -> Any:
    """Like flowcept_task, plus this process's CPU time read at the start and end of each call.

    The task's ``telemetry_summary`` gets its exact CPU time and utilisation; ``telemetry_at_start`` /
    ``telemetry_at_end`` are the background sampler's snapshots current at those moments (no file read per call).
    """
    return _decorator(
        "telemetry_flowcept_task",
        func,
        decorator_kwargs,
        lambda f, o: _full(f, TaskTemplate(f, **o), fresh_telemetry=True),
    )


def lightweight_flowcept_task(func: Callable | None = None, **decorator_kwargs: Any) -> Any:
    """The lowest-overhead task capture: used, generated, status, end time and parent; no start time, no telemetry.

    Calls nested inside a lightweight task do not see it as their parent.
    """
    if decorator_kwargs.get("args_handler") is not None:
        raise TypeError("lightweight_flowcept_task does not take args_handler; use flowcept_task")
    return _decorator(
        "lightweight_flowcept_task",
        func,
        decorator_kwargs,
        lambda f, o: _light(f, TaskTemplate(f, lightweight=True, **o)),
    )


def flowcept(func: Callable | None = None, **flowcept_kwargs: Any) -> Any:
    """Run a function (typically main) as a workflow: ``with Flowcept(workflow_name=func.__name__, ...)`` around it.

    Usable as ``@flowcept`` or ``@flowcept(workflow_name=..., campaign_id=..., ...)`` with any Flowcept() argument.
    """

    def decorate(f: Callable) -> Callable:
        from flowcept_core.controller import Flowcept

        if _is_coroutine_function(f):

            @functools.wraps(f)
            async def async_main(*args: Any, **kwargs: Any) -> Any:
                with Flowcept(**_workflow_kwargs(f, flowcept_kwargs)):
                    return await f(*args, **kwargs)

            return async_main

        @functools.wraps(f)
        def main(*args: Any, **kwargs: Any) -> Any:
            with Flowcept(**_workflow_kwargs(f, flowcept_kwargs)):
                return f(*args, **kwargs)

        return main

    return decorate(func) if func is not None else decorate


def _workflow_kwargs(f: Callable, given: dict) -> dict:
    kw = dict(given)
    kw.setdefault("workflow_name", getattr(f, "__name__", None))
    return kw
