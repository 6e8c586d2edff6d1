"""Which agent runs which workflow: written by BaseAgentContextManager when it starts and stops its run, read when
a tool call or LLM invocation becomes a message (off the caller's path)."""

from __future__ import annotations

__all__ = ["register", "unregister", "agent_of"]

_BY_WORKFLOW: dict[str, str] = {}
_current: list[str | None] = [None]  # the agent started last (what upstream keeps on the class)


def register(workflow_id: str, agent_id: str) -> None:
    """The agent ``agent_id`` runs workflow ``workflow_id`` from now on."""
    _BY_WORKFLOW[workflow_id] = agent_id
    _current[0] = agent_id


def unregister(workflow_id: str) -> None:
    """The workflow's run has stopped (its messages are all built by then)."""
    _BY_WORKFLOW.pop(workflow_id, None)


def agent_of(workflow_id: str | None) -> str | None:
    """The agent running workflow_id; else the agent started last, if any is still running; else None."""
    agent = _BY_WORKFLOW.get(workflow_id) if workflow_id is not None else None
    if agent is None and _BY_WORKFLOW:
        agent = _current[0]
    return agent
