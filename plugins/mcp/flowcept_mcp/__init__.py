"""flowcept-mcp: provenance of MCP agents.

* ``agent_flowcept_task``: put it under ``@server.tool()``; each tool call becomes a task (subtype ``agent_tool``) of
  the agent's workflow, with the agent's id, the arguments by parameter name, the result and its timing.
* ``FlowceptLLM``: wraps any object with an ``invoke(messages)`` method; each call becomes an ``llm_interaction`` task
  (prompt, response, model class and configuration without secrets, token usage, finish reason, latency), the child
  of the tool that made it.
* ``BaseAgentContextManager``: runs a Flowcept workflow for the agent while the MCP server lives (give its
  ``lifespan`` to the server) and collects the task messages for the agent to read.

The upstream import paths work too: ``flowcept.instrumentation.flowcept_agent_task`` and
``flowcept.flowceptor.consumers.agent.base_agent_context_manager``. Importing this package imports no MCP library.
"""

from __future__ import annotations

__all__ = ["agent_flowcept_task", "FlowceptLLM", "BaseAgentContextManager", "BaseAppContext"]


def __getattr__(name: str) -> object:
    """Import the module behind a public name on first access (PEP 562)."""
    if name in ("agent_flowcept_task", "FlowceptLLM"):
        from flowcept_mcp import agent_task

        return getattr(agent_task, name)
    if name in ("BaseAgentContextManager", "BaseAppContext"):
        from flowcept_mcp import context_manager

        return getattr(context_manager, name)
    raise AttributeError(f"module 'flowcept_mcp' has no attribute {name!r}; it offers: {', '.join(__all__)}")
