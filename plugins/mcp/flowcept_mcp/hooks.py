"""Hooks of flowcept-mcp. The plugin adds no MQ, store or interceptor: its decorator, LLM wrapper and agent context
manager are imported by the user (``flowcept.instrumentation.flowcept_agent_task``,
``flowcept.flowceptor.consumers.agent.base_agent_context_manager``). Registered so ``flowcept plugins`` lists it."""

from __future__ import annotations

__all__: list[str] = []
