"""An MCP agent whose tool calls and model calls are recorded: an in-process MCP server and client, no network.

Run: python examples/mcp_agent_example.py      (needs: pip install "flowcept[mcp]")

The agent has two tools. ``sum_and_explain`` calls a language model (here a small local stand-in with the same
``invoke(messages)`` method as a LangChain chat model) through ``FlowceptLLM``, so the model call is recorded as the
child task of the tool call. Everything lands in the agent's workflow and is read back with ``Flowcept.db``.
"""

from __future__ import annotations

import asyncio

from flowcept import Flowcept
from flowcept.flowceptor.consumers.agent.base_agent_context_manager import BaseAgentContextManager
from flowcept.instrumentation.flowcept_agent_task import FlowceptLLM, agent_flowcept_task

try:  # mcp 2.x
    from mcp.server.mcpserver import Context
    from mcp.server.mcpserver import MCPServer as Server
except ImportError:  # mcp 1.x: the same server is called FastMCP
    from mcp.server.fastmcp import Context
    from mcp.server.fastmcp import FastMCP as Server


class LocalModel:
    """Stands in for a chat model: it 'explains' a sum. Its api_key is never recorded."""

    model_name = "local-explainer"
    temperature = 0.0
    api_key = "sk-example-not-a-real-key"

    def invoke(self, messages):
        question = messages[-1][1]
        return {"choices": [{"message": {"content": f"{question} It is a sum."}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 5}}


class AgentController(BaseAgentContextManager):
    """The agent: its own Flowcept workflow while the server runs, and the task messages it has seen."""


agent = AgentController(agent_name="sum_agent")
mcp = Server("sum_agent", lifespan=agent.lifespan)
llm = FlowceptLLM(LocalModel())


@mcp.tool()
@agent_flowcept_task  # under the tool decorator: the server registers the instrumented function
def add(x: int, y: int) -> int:
    """Add two integers."""
    return x + y


@mcp.tool()
@agent_flowcept_task
def sum_and_explain(x: int, y: int, ctx: Context) -> str:
    """Add two integers and ask the model to explain the result."""
    history = ctx.request_context.lifespan_context.history
    history.append((x, y))
    reply = llm.invoke([("system", "Explain briefly."), ("user", f"{x} + {y} = {x + y}.")])
    return reply["choices"][0]["message"]["content"]


async def talk_to_the_agent() -> str:
    """A client session, as an MCP host would open one (in-process here; mcp 2.x's Client)."""
    from mcp import Client

    async with Client(mcp) as client:
        tools = await client.list_tools()
        print("tools:", [t.name for t in tools.tools])
        print("add ->", (await client.call_tool("add", {"x": 2, "y": 3})).content[0].text)
        print("sum_and_explain ->", (await client.call_tool("sum_and_explain", {"x": 4, "y": 5})).content[0].text)
        return agent.workflow_id


def main() -> None:
    workflow_id = asyncio.run(talk_to_the_agent())  # the server's lifespan started and stopped the agent's run
    tasks = Flowcept.db.query({"workflow_id": workflow_id}) or []
    by_id = {t["task_id"]: t for t in tasks}
    for t in sorted(tasks, key=lambda t: t["started_at"]):
        parent = by_id.get(t.get("parent_task_id"), {}).get("activity_id")
        print(f"{t['activity_id']:<16} subtype={t.get('subtype'):<20} status={t['status']:<9} "
              f"used={t.get('used')} generated={t.get('generated')}" + (f" (child of {parent})" if parent else ""))
    llm_task = next(t for t in tasks if t["activity_id"] == "llm_interaction")
    print("model call:", {k: llm_task["custom_metadata"][k] for k in ("model_name", "usage", "finish_reason")})
    print(f"agent {agent.agent_id} saw {len(agent.context.tasks)} task messages")


if __name__ == "__main__":
    main()
