"""``@agent_flowcept_task``: each call of an MCP tool is a task of the agent's workflow.

Put it under the server's tool decorator, so the server registers the instrumented function::

    @server.tool()
    @agent_flowcept_task
    def add(x: int, y: int) -> int:
        return x + y

A call records: activity_id (the function's name), subtype ``agent_tool``, the agent's id, used (the arguments by
parameter name; an MCP ``Context`` argument is left out; pydantic models and dataclasses as their fields), generated
(the result, likewise), started_at / ended_at, status and the parent task. An exception is recorded (status ERROR,
stderr "Type: message") and raised again, so the MCP client gets the tool error. The wrapper is the one the core's
``@flowcept_task`` uses: same parameters, same annotations (``functools.wraps``), ``async def`` for an async tool,
so the schema the client lists is the function's own. With no active Flowcept the wrapper just calls the function.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

from flowcept_core.plugin import DECORATOR_OPTIONS, TaskTemplate, generated_wrapper, get_logger
from flowcept_mcp._agents import agent_of

__all__ = ["agent_flowcept_task", "AgentToolTemplate", "TOOL_SUBTYPE"]

TOOL_SUBTYPE = "agent_tool"


def _is_context_annotation(annotation: Any) -> bool:
    """True for MCP's request Context (mcp.server.mcpserver.Context, mcp 1.x's FastMCP Context), written as a class
    or as a string annotation; checked by name so that this module imports no MCP library."""
    if isinstance(annotation, str):
        head = annotation.split("[", 1)[0].strip().rsplit(".", 1)[-1]
        return head == "Context"
    for arg in typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else ():
        if arg is not type(None) and _is_context_annotation(arg):  # Context | None
            return True
    origin = getattr(annotation, "__origin__", None) or annotation  # Context[...] -> Context
    return (isinstance(origin, type) and origin.__name__ == "Context"
            and (getattr(origin, "__module__", "") or "").split(".", 1)[0] in ("mcp", "fastmcp"))


def _context_parameters(func: Callable) -> tuple[str, ...]:
    """Names of func's parameters annotated with MCP's Context (the server injects them; they are not inputs).
    Annotations are resolved when they can be (then only mcp's Context counts), else read as written."""
    target = inspect.unwrap(func)
    try:
        annotations = typing.get_type_hints(target)
    except Exception:  # a forward reference that does not resolve (yet): the names as written
        annotations = getattr(target, "__annotations__", None) or {}
    return tuple(name for name, ann in annotations.items() if name != "return" and _is_context_annotation(ann))


def _as_data(value: Any) -> Any:
    """A pydantic model (what MCP tools often take and return) or a dataclass instance as its fields; anything else
    as it is. Called when the message is built, off the tool's path."""
    dump = getattr(type(value), "model_dump", None)
    if dump is not None and not isinstance(value, type):
        try:
            return value.model_dump(mode="json")
        except Exception:
            return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        try:
            return dataclasses.asdict(value)
        except Exception:
            return value
    return value


class AgentToolTemplate(TaskTemplate):
    """The task template of an agent tool: the core's, plus the agent's id and without MCP Context arguments.

    Its records are built into messages in the producing process (``record_kind`` None), where the agent that runs
    the workflow is known."""

    __slots__ = ("agent_id", "hidden")
    record_kind = None  # type: ignore[assignment]  # not a packed kind: the agent is looked up on this side

    def __init__(self, func: Callable, *, agent_id: str | None = None, **options: Any):
        super().__init__(func, **options)
        self.agent_id = str(agent_id) if agent_id is not None else None
        self.hidden = _context_parameters(func)

    def bind(self, args: tuple, kwargs: dict | None) -> dict:
        used = super().bind(args, kwargs)
        for name in self.hidden:
            used.pop(name, None)
        return {k: _as_data(v) for k, v in used.items()}

    def _generated(self, result: Any, limits: Any) -> dict | None:
        return super()._generated(_as_data(result), limits)

    def materialize(self, rec: list, run: Any) -> dict:
        msg = super().materialize(rec, run)
        if self.hidden:
            used = msg.get("used")
            if used:
                for name in self.hidden:
                    used.pop(name, None)
        agent = self.agent_id or agent_of(msg.get("workflow_id"))
        if agent is not None:
            msg["agent_id"] = agent
        return msg


def _is_async(func: Callable) -> bool:
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(inspect.unwrap(func))


def agent_flowcept_task(func: Callable | None = None, *, agent_id: str | None = None, **decorator_kwargs: Any) -> Any:
    """Record each call of an agent's tool as a task (see the module docstring).

    Usable bare (``@agent_flowcept_task``) or with options (``@agent_flowcept_task(tags=["io"])``): ``agent_id`` (by
    default the agent whose BaseAgentContextManager runs the workflow), and the options of ``@flowcept_task``:
    output_names, args_handler, tags, custom_metadata, workflow_id, campaign_id, subtype (``agent_tool`` by default),
    activity_id.
    """
    bad = sorted(set(decorator_kwargs) - set(DECORATOR_OPTIONS))
    if bad:
        raise TypeError(f"agent_flowcept_task() got unknown option(s) {bad}; allowed: "
                        f"{['agent_id', *DECORATOR_OPTIONS]}")
    decorator_kwargs.setdefault("subtype", TOOL_SUBTYPE)

    def decorate(f: Callable) -> Callable:
        if not callable(f):
            raise TypeError(f"agent_flowcept_task decorates a function; got {f!r}")
        template = AgentToolTemplate(f, agent_id=agent_id, **decorator_kwargs)  # bad option values raise here
        try:
            return generated_wrapper(f, template, lightweight=False, is_async=_is_async(f))
        except Exception as e:  # capture must never stop the tool from working
            get_logger().error(f"agent_flowcept_task: {getattr(f, '__qualname__', f)!r} is not instrumented: "
                               f"{type(e).__name__}: {e}")
            return f

    if func is not None:
        return decorate(func)
    return decorate
