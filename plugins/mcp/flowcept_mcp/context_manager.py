"""``BaseAgentContextManager``: the provenance side of an MCP agent.

Subclass it, create one instance, and give its ``lifespan`` to the MCP server::

    class AgentController(BaseAgentContextManager):
        pass

    agent = AgentController()
    server = MCPServer("my_agent", lifespan=agent.lifespan)  # mcp 1.x: FastMCP("my_agent", lifespan=...)

While the server runs, the manager

* runs a Flowcept workflow for the agent (``agent_id``, ``agent_name``, ``workflow_name``; ``save_workflow`` records
  the workflow, as ``Flowcept(save_workflow=...)``), so ``@agent_flowcept_task`` tools and ``FlowceptLLM`` calls
  become tasks of it, carrying the agent's id;
* consumes the MQ and keeps the task messages in ``context.tasks`` (a :class:`BaseAppContext`, which is what the
  lifespan yields: tools read it as ``ctx.request_context.lifespan_context``). By default every task message the MQ
  carries is kept (the agent sees the workflows it watches); ``own_workflow_only=True`` keeps only the agent's own.
  Override ``message_handler`` to keep something else.

``start()`` / ``stop()`` do the same without a server. Several sessions may share one server: the run starts with the
first lifespan and stops when the last one ends. Failing to start the consumer (an offline run has no MQ) is logged;
the agent's tasks are still captured.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from flowcept_core.plugin import CONTROL_TYPE, END_OF_STREAM, BaseConsumer, Flowcept, new_uuid
from flowcept_mcp import _agents

__all__ = ["BaseAgentContextManager", "BaseAppContext"]


@dataclass
class BaseAppContext:
    """What an agent reads while it runs: the task messages received (``tasks``, oldest first; with the in-process MQ
    they are the very dicts other consumers get, so read them, do not change them) and a conversation ``history``
    the agent's tools may append to."""

    tasks: list[dict] = field(default_factory=list)
    history: list = field(default_factory=list)


class BaseAgentContextManager(BaseConsumer):
    """A consumer that runs the agent's Flowcept workflow and collects task messages (see the module docstring).

    Other keyword arguments go to the agent's ``Flowcept(...)``: e.g. ``start_persistence=False`` when a separate
    process stores what a networked MQ carries.

    ``agent_id`` (class attribute): the id of the agent started last in this process, None before any.
    """

    agent_id: str | None = None

    def __init__(self, agent_id: str | None = None, agent_name: str | None = None,
                 workflow_name: str | None = None, save_workflow: bool = True, campaign_id: str | None = None,
                 own_workflow_only: bool = False, max_tasks: int | None = None, settings: Any = None,
                 **flowcept_kwargs: Any):
        if max_tasks is not None and (not isinstance(max_tasks, int) or isinstance(max_tasks, bool) or max_tasks < 1):
            raise ValueError(f"max_tasks={max_tasks!r}: expected a positive int, or None to keep every task")
        super().__init__(settings=settings)
        self.agent_id = str(agent_id) if agent_id is not None else new_uuid()
        self.agent_name = agent_name or type(self).__name__
        self.workflow_name = workflow_name or self.agent_name
        self.save_workflow = save_workflow
        self.campaign_id = campaign_id
        self.own_workflow_only = own_workflow_only
        self.max_tasks = max_tasks
        self.flowcept_kwargs = flowcept_kwargs  # more Flowcept() arguments for the agent's run (start_persistence...)
        if flowcept_kwargs:
            Flowcept(**flowcept_kwargs)  # an unknown argument raises TypeError here, not when the server starts
        self.flowcept: Any = None  # the agent's running Flowcept, None when stopped
        self.context: BaseAppContext = BaseAppContext()
        self._workflow_id: str | None = None
        self._users = 0
        self._stream_ended = threading.Event()  # the end marker of the agent's run was received
        self._state_lock = threading.Lock()

    @property
    def workflow_id(self) -> str | None:
        """The id of the agent's running workflow, or of its last one once stopped (None before the first start)."""
        return self._workflow_id

    def reset_context(self) -> None:
        """Start over with an empty context (no tasks, no history)."""
        self.context = BaseAppContext()

    def message_handler(self, msg_obj: dict) -> bool:
        """Keep task messages in ``context.tasks`` (called on the consumer's thread; return False to stop)."""
        kind = msg_obj.get("type")
        if kind != "task":
            if kind == CONTROL_TYPE and msg_obj.get("info") == END_OF_STREAM and \
                    msg_obj.get("workflow_id") == self._workflow_id:
                self._stream_ended.set()
            return True
        if self.own_workflow_only and msg_obj.get("workflow_id") != self.workflow_id:
            return True
        tasks = self.context.tasks
        tasks.append(msg_obj)
        if self.max_tasks is not None and len(tasks) > self.max_tasks:
            del tasks[: len(tasks) - self.max_tasks]
        return True

    # lifecycle ----------------------------------------------------------------------------------------------
    def start(self, daemon: bool = True) -> BaseAgentContextManager:
        """Start the agent's workflow, then start consuming on a thread (a daemon thread unless ``daemon=False``).
        A second start() while running is a no-op. Errors starting the run (bad settings, an MQ that cannot be
        reached) are raised.

        The subscription is made before start() returns, so every task of the agent's tools (which run after it)
        is received."""
        with self._state_lock:
            if self.flowcept is not None:
                return self
            fc = Flowcept(workflow_name=self.workflow_name, agent_id=self.agent_id, agent_name=self.agent_name,
                          campaign_id=self.campaign_id, save_workflow=self.save_workflow, settings=self._settings,
                          **self.flowcept_kwargs)
            self._stream_ended.clear()
            fc.start()
            self.flowcept = fc
            self._workflow_id = fc.current_workflow_id
            _agents.register(fc.current_workflow_id, self.agent_id)
            BaseAgentContextManager.agent_id = self.agent_id
            try:
                super().start(daemon=daemon)
            except Exception as e:
                self.logger.warning(f"{type(self).__name__}: not collecting task messages (the MQ could not be "
                                    f"opened: {type(e).__name__}: {e}); the agent's tasks are still captured")
            return self

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop the agent's workflow (everything captured is delivered), wait up to ``timeout`` seconds for the
        consumer to receive the run's end marker (so ``context.tasks`` holds all of the run's tasks), then stop
        consuming. Idempotent."""
        with self._state_lock:
            fc, self.flowcept = self.flowcept, None
            if fc is not None:
                try:
                    fc.stop()
                finally:
                    _agents.unregister(fc.current_workflow_id)
                if self.is_running:
                    self._stream_ended.wait(timeout)
            self.stop_consumption(timeout)

    @asynccontextmanager
    async def lifespan(self, app: Any = None) -> AsyncIterator[BaseAppContext]:
        """The MCP server's lifespan: the agent's run lives while the server (or its sessions) does; yields the
        context tools read as ``ctx.request_context.lifespan_context``."""
        with self._state_lock:
            self._users += 1
            first = self._users == 1
        try:
            if first:
                try:
                    self.start()
                except Exception as e:  # the server still serves; its tools run uncaptured
                    self.logger.error(f"{type(self).__name__}: the agent's provenance run did not start, tool calls "
                                      f"are not captured: {type(e).__name__}: {e}")
            yield self.context
        finally:
            with self._state_lock:
                self._users -= 1
                last = self._users == 0
            if last:
                self.stop()
