"""Hooks of flowcept-mcp: none. The plugin adds no MQ, store, interceptor or consumer kind, so ``flowcept plugins``
has nothing to list for it; its decorator, LLM wrapper and agent context manager are imported by the user
(``flowcept.instrumentation.flowcept_agent_task``, ``flowcept.flowceptor.consumers.agent.base_agent_context_manager``).
The module exists because every plugin distribution names one under the ``flowcept`` entry-point group."""

from __future__ import annotations

__all__: list[str] = []
