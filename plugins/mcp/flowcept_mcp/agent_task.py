"""What ``flowcept.instrumentation.flowcept_agent_task`` offers: ``agent_flowcept_task`` for MCP tools and
``FlowceptLLM`` for language-model calls (see flowcept_mcp.tool_task and flowcept_mcp.llm)."""

from __future__ import annotations

from flowcept_mcp.llm import FlowceptLLM
from flowcept_mcp.tool_task import agent_flowcept_task

__all__ = ["agent_flowcept_task", "FlowceptLLM"]
