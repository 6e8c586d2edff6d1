"""An MCP agent end to end: a real MCPServer in-process, a real client session, the agent's workflow in the default
store (in-process MQ + LMDB), queried through Flowcept.db."""

from __future__ import annotations

import json
import time

import pytest
from pydantic import BaseModel

from flowcept import Flowcept
from flowcept.flowceptor.consumers.agent.base_agent_context_manager import BaseAgentContextManager
from flowcept.instrumentation.flowcept_agent_task import FlowceptLLM, agent_flowcept_task
from flowcept_core.testing.services import redis_answers

# tools' annotations are strings (postponed evaluation): the server resolves them in this module's globals
Context = pytest.importorskip("mcp.server.mcpserver", reason="this mcp has no MCPServer (mcp<2)").Context

SECRET = "sk-never-record-this-0123456789"


class LocalModel:
    """Stands in for a chat model: answers from the last message, no network. Reports no token usage."""

    model_name = "local-sum-1"
    temperature = 0.0

    def __init__(self, api_key: str = SECRET):
        self.api_key = api_key
        self.calls = 0

    def invoke(self, messages):
        self.calls += 1
        last = messages[-1][1] if isinstance(messages[-1], tuple) else str(messages[-1])
        if "fail" in last:
            raise RuntimeError("model unavailable")
        return f"the answer to {last!r}"


class AgentController(BaseAgentContextManager):
    pass


def _build(server_class, agent, model):
    server = server_class("test_agent", lifespan=agent.lifespan)

    @server.tool()
    @agent_flowcept_task
    def add(x: int, y: int, campaign_id: str | None = None) -> int:
        """Add two numbers."""
        return x + y

    @server.tool()
    @agent_flowcept_task
    def ask(question: str, ctx: Context) -> str:
        """Ask the model; the question goes into the agent's history."""
        llm = FlowceptLLM(model)
        history = ctx.request_context.lifespan_context.history
        history.append(question)
        return llm.invoke([("system", "Be brief."), ("user", question)])

    @server.tool()
    @agent_flowcept_task
    async def fails(reason: str) -> str:
        """Always raises."""
        raise ValueError(reason)

    return server


def _docs(workflow_id: str) -> list[dict]:
    return Flowcept.db.query({"workflow_id": workflow_id}) or []


def _by_activity(docs: list[dict], activity: str) -> list[dict]:
    return [d for d in docs if d.get("activity_id") == activity]


def test_tool_calls_through_a_client_session_are_tasks_of_the_agents_workflow(mcp_server_class, with_client):
    agent = AgentController(agent_name="calc")
    server = _build(mcp_server_class, agent, LocalModel())

    async def body(client):
        first = await client.call_tool("add", {"x": 2, "y": 3})
        second = await client.call_tool("add", {"x": 10, "y": -4})
        return agent.workflow_id, first, second

    workflow_id, first, second = with_client(server, body)
    assert not first.is_error and first.structured_content == {"result": 5}
    assert workflow_id is not None and agent.flowcept is None  # the lifespan ended: the run stopped
    adds = sorted(_by_activity(_docs(workflow_id), "add"), key=lambda d: d["started_at"])
    assert [d["used"] for d in adds] == [{"x": 2, "y": 3}, {"x": 10, "y": -4}]
    assert [d["generated"] for d in adds] == [{"arg_0": 5}, {"arg_0": 6}]
    for doc in adds:
        assert doc["subtype"] == "agent_tool"
        assert doc["agent_id"] == agent.agent_id
        assert doc["status"] == "FINISHED"
        assert doc["started_at"] <= doc["ended_at"]
    workflow = Flowcept.db.get_workflow_object(workflow_id)
    assert workflow is not None and workflow.agent_id == agent.agent_id


def test_llm_call_inside_a_tool_is_that_tools_child_and_records_no_secret(mcp_server_class, with_client):
    agent = AgentController()
    model = LocalModel()
    server = _build(mcp_server_class, agent, model)

    async def body(client):
        result = await client.call_tool("ask", {"question": "what is 2+3?"})
        return agent.workflow_id, result

    workflow_id, result = with_client(server, body)
    assert not result.is_error and "what is 2+3?" in result.content[0].text
    assert model.calls == 1
    docs = _docs(workflow_id)
    (tool,) = _by_activity(docs, "ask")
    (llm,) = _by_activity(docs, "llm_interaction")
    assert tool["used"] == {"question": "what is 2+3?"}  # the injected Context is not an input
    assert llm["parent_task_id"] == tool["task_id"]
    assert llm["subtype"] == "ai_model_invocation"
    assert llm["agent_id"] == agent.agent_id
    assert llm["used"]["prompt"] == [{"role": "system", "content": "Be brief."},
                                     {"role": "user", "content": "what is 2+3?"}]
    assert llm["generated"]["response"] == "the answer to 'what is 2+3?'"
    meta = llm["custom_metadata"]
    assert meta["model_class"].endswith("LocalModel")
    assert meta["model_name"] == "local-sum-1"
    assert meta["model_config"]["temperature"] == 0.0 and meta["model_config"]["api_key"] == "***"
    assert meta["usage"]["estimated"] is True and meta["usage"]["total_tokens"] > 0
    assert meta["latency_s"] >= 0
    assert tool["started_at"] <= llm["started_at"] <= llm["ended_at"] <= tool["ended_at"]
    assert SECRET not in json.dumps(docs, default=str)
    assert agent.context.history == ["what is 2+3?"]


def test_tool_error_is_recorded_and_the_client_sees_it(mcp_server_class, with_client):
    agent = AgentController()
    server = _build(mcp_server_class, agent, LocalModel())

    async def body(client):
        return agent.workflow_id, await client.call_tool("fails", {"reason": "disk full"})

    workflow_id, result = with_client(server, body)
    assert result.is_error
    (doc,) = _by_activity(_docs(workflow_id), "fails")
    assert doc["status"] == "ERROR"
    assert doc["stderr"] == "ValueError: disk full"
    assert doc["used"] == {"reason": "disk full"} and "generated" not in doc


def test_model_error_inside_a_tool_is_recorded_on_both_tasks(mcp_server_class, with_client):
    agent = AgentController()
    server = _build(mcp_server_class, agent, LocalModel())

    async def body(client):
        return agent.workflow_id, await client.call_tool("ask", {"question": "please fail"})

    workflow_id, result = with_client(server, body)
    assert result.is_error
    docs = _docs(workflow_id)
    (tool,) = _by_activity(docs, "ask")
    (llm,) = _by_activity(docs, "llm_interaction")
    assert llm["status"] == "ERROR" and llm["stderr"] == "RuntimeError: model unavailable"
    assert tool["status"] == "ERROR" and llm["parent_task_id"] == tool["task_id"]


class Point(BaseModel):
    x: float
    y: float


class Segment(BaseModel):
    start: Point
    end: Point
    label: str = ""


def test_pydantic_arguments_and_results_are_recorded_as_their_fields(mcp_server_class, with_client):
    agent = AgentController()
    server = mcp_server_class("geometry", lifespan=agent.lifespan)

    @server.tool()
    @agent_flowcept_task
    def midpoint(segment: Segment) -> Point:
        """The middle of a segment."""
        return Point(x=(segment.start.x + segment.end.x) / 2, y=(segment.start.y + segment.end.y) / 2)

    async def body(client):
        arg = {"start": {"x": 0, "y": 0}, "end": {"x": 2, "y": 4}, "label": "s"}
        return agent.workflow_id, await client.call_tool("midpoint", {"segment": arg})

    workflow_id, result = with_client(server, body)
    assert result.structured_content == {"x": 1.0, "y": 2.0}
    (doc,) = _by_activity(_docs(workflow_id), "midpoint")
    assert doc["used"] == {"segment": {"start": {"x": 0.0, "y": 0.0}, "end": {"x": 2.0, "y": 4.0}, "label": "s"}}
    assert doc["generated"] == {"x": 1.0, "y": 2.0}


def test_the_listed_tool_schemas_are_unchanged_by_the_decorator(mcp_server_class, with_client):
    def tools(decorate):
        server = mcp_server_class("schemas")

        @server.tool()
        @decorate
        def plain(x: int, y: float = 1.5, label: str = "a") -> dict[str, float]:
            """Scale x."""
            return {label: x * y}

        @server.tool()
        @decorate
        async def with_context(text: str, ctx: Context, times: int = 2) -> str:
            """Repeat text."""
            return text * times

        @server.tool()
        @decorate
        def untyped(a, b=None):
            return [a, b]

        async def body(client):
            listed = await client.list_tools()
            return [t.model_dump() for t in sorted(listed.tools, key=lambda t: t.name)]

        return with_client(server, body)

    bare = tools(lambda f: f)
    assert [t["name"] for t in bare] == ["plain", "untyped", "with_context"]
    assert tools(agent_flowcept_task) == bare
    assert tools(agent_flowcept_task(tags=["t"])) == bare


def test_the_context_collects_the_task_messages_of_the_run(mcp_server_class, with_client):
    agent = AgentController(own_workflow_only=True)
    server = _build(mcp_server_class, agent, LocalModel())

    async def body(client):
        await client.call_tool("add", {"x": 1, "y": 1})
        await client.call_tool("ask", {"question": "q"})
        return agent.workflow_id

    workflow_id = with_client(server, body)  # stopping the run delivers everything; the consumer has handled it
    seen = {t["activity_id"] for t in agent.context.tasks}
    assert seen == {"add", "ask", "llm_interaction"}
    assert all(t["workflow_id"] == workflow_id for t in agent.context.tasks)


def test_context_manager_starts_and_stops_without_a_server():
    agent = AgentController(workflow_name="batch_agent", max_tasks=2)

    @agent_flowcept_task
    def step(i: int) -> int:
        return i * i

    agent.start()
    try:
        assert BaseAgentContextManager.agent_id == agent.agent_id
        for i in range(4):
            step(i)
        workflow_id = agent.workflow_id
    finally:
        agent.stop()
    agent.stop()  # idempotent
    assert [t["used"] for t in agent.context.tasks] == [{"i": 2}, {"i": 3}]  # max_tasks keeps the newest
    docs = _by_activity(_docs(workflow_id), "step")
    assert sorted(d["generated"]["arg_0"] for d in docs) == [0, 1, 4, 9]
    assert {d["agent_id"] for d in docs} == {agent.agent_id}


def test_unknown_flowcept_arguments_of_the_agent_are_refused_when_it_is_made():
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['colour'\]"):
        AgentController(colour="red")


def test_public_names_import_from_flowcept_and_from_the_plugin():
    import flowcept_mcp

    import flowcept

    assert flowcept.agent_flowcept_task is agent_flowcept_task is flowcept_mcp.agent_flowcept_task
    assert flowcept.FlowceptLLM is FlowceptLLM
    from flowcept.flowceptor.consumers.agent.base_agent_context_manager import BaseAppContext

    assert BaseAppContext is flowcept_mcp.BaseAppContext
    assert BaseAgentContextManager is flowcept_mcp.BaseAgentContextManager


def test_an_explicit_agent_id_is_recorded_on_a_plain_run():
    @agent_flowcept_task(agent_id="agent-7", tags=["manual"])
    def lookup(key: str) -> str:
        return key.upper()

    with Flowcept(workflow_name="no_agent_manager") as fc:
        assert lookup("k") == "K"
    (doc,) = Flowcept.db.query({"workflow_id": fc.current_workflow_id, "activity_id": "lookup"})
    assert doc["agent_id"] == "agent-7" and doc["tags"] == ["manual"] and doc["subtype"] == "agent_tool"



def test_tool_and_model_tasks_keep_their_fields_over_a_networked_mq(mcp_server_class, with_client, tmp_path,
                                                                     monkeypatch):
    """On a networked MQ the producer ships compact records; agent tool records are built on the producer's side, so
    they reach the store with the agent's id and without the Context argument."""
    pytest.importorskip("flowcept_redis", reason="the redis plugin is not installed")
    if not redis_answers():
        pytest.skip("no Redis answers PING on 127.0.0.1:6379 (see /work/shared/services.md)")
    import yaml

    from flowcept_core.registry import reset_registry
    from flowcept_core.settings import reset_settings

    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump({
        "mq": {"type": "redis", "host": "127.0.0.1", "port": 6379, "channel": f"mcp-{time.time_ns()}"},
        "project": {"db_flush_mode": "online"},
        "log": {"log_stream_level": "error", "log_file_level": "disable"},
    }))
    monkeypatch.setenv("FLOWCEPT_SETTINGS_PATH", str(path))
    reset_settings()
    reset_registry()
    agent = AgentController(own_workflow_only=True)
    server = _build(mcp_server_class, agent, LocalModel())

    async def body(client):
        await client.call_tool("add", {"x": 20, "y": 22})
        await client.call_tool("ask", {"question": "why?"})
        return agent.workflow_id

    workflow_id = with_client(server, body)
    docs = {d["activity_id"]: d for d in _docs(workflow_id)}
    assert docs["add"]["used"] == {"x": 20, "y": 22} and docs["add"]["generated"] == {"arg_0": 42}
    assert docs["ask"]["used"] == {"question": "why?"}
    assert docs["llm_interaction"]["parent_task_id"] == docs["ask"]["task_id"]
    assert {d["agent_id"] for d in docs.values()} == {agent.agent_id}
    # stop() waited for the run's end marker: the consumer (reading Redis on its own thread) has every task
    assert {t["activity_id"] for t in agent.context.tasks} == {"add", "ask", "llm_interaction"}


def test_a_run_that_cannot_start_leaves_the_server_serving(mcp_server_class, with_client, tmp_path, monkeypatch,
                                                          caplog):
    import yaml

    from flowcept_core.registry import reset_registry
    from flowcept_core.settings import reset_settings

    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump({"mq": {"type": "no_such_mq"}}))
    monkeypatch.setenv("FLOWCEPT_SETTINGS_PATH", str(path))
    reset_settings()
    reset_registry()
    agent = AgentController()
    server = _build(mcp_server_class, agent, LocalModel())

    async def body(client):
        return await client.call_tool("add", {"x": 1, "y": 2})

    result = with_client(server, body)
    assert not result.is_error and result.structured_content == {"result": 3}
    assert agent.workflow_id is None
    assert "provenance run did not start" in caplog.text and "no_such_mq" in caplog.text
