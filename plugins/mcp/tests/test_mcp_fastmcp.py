"""The seeds' spelling on mcp 1.x: ``FastMCP(..., lifespan=agent.lifespan)``, ``@mcp.tool()`` over
``@agent_flowcept_task``, ``mcp.get_context()`` inside the tool, a real client session over in-memory streams.
Runs where the installed mcp still has FastMCP (mcp<2); mcp 2.x renamed it MCPServer (test_mcp_agent.py)."""

from __future__ import annotations

import asyncio

import pytest

from flowcept import Flowcept
from flowcept.flowceptor.consumers.agent.base_agent_context_manager import BaseAgentContextManager
from flowcept.instrumentation.flowcept_agent_task import FlowceptLLM, agent_flowcept_task

fastmcp = pytest.importorskip("mcp.server.fastmcp", reason="the installed mcp has no FastMCP (mcp>=2: MCPServer)")
memory = pytest.importorskip("mcp.shared.memory", reason="the installed mcp has no in-memory client session")


class AgentController(BaseAgentContextManager):
    pass


class Model:
    def invoke(self, messages):
        return "fine"


def test_seed_style_fastmcp_agent_records_tools_and_model_calls():
    agent_controller = AgentController()
    mcp = fastmcp.FastMCP("AnC_Agent_mock", lifespan=agent_controller.lifespan)

    @mcp.tool()
    @agent_flowcept_task  # Must be in this order: @mcp.tool() then @agent_flowcept_task
    def tool_example(x: int, y: int, campaign_id: str | None = None) -> int:
        ctx = mcp.get_context()
        ctx.request_context.lifespan_context.history.append(x)
        FlowceptLLM(Model()).invoke([("user", f"{x}+{y}")])
        return x + y

    @mcp.tool()
    @agent_flowcept_task
    async def boom(x: int) -> int:
        raise ValueError("bad input")

    async def main():
        async with memory.create_connected_server_and_client_session(mcp._mcp_server) as client:
            ok = await client.call_tool("tool_example", {"x": 1, "y": 2})
            failed = await client.call_tool("boom", {"x": 1})
            return agent_controller.workflow_id, ok, failed

    workflow_id, ok, failed = asyncio.run(main())
    assert not ok.isError and ok.content[0].text == "3"
    assert failed.isError
    docs = {d["activity_id"]: d for d in Flowcept.db.query({"workflow_id": workflow_id})}
    assert docs["tool_example"]["used"] == {"x": 1, "y": 2} and docs["tool_example"]["generated"] == {"arg_0": 3}
    assert docs["llm_interaction"]["parent_task_id"] == docs["tool_example"]["task_id"]
    assert docs["boom"]["status"] == "ERROR" and docs["boom"]["stderr"] == "ValueError: bad input"
    assert {d["agent_id"] for d in docs.values()} == {agent_controller.agent_id}
    assert agent_controller.context.history == [1]
