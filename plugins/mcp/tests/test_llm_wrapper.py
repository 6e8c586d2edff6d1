"""FlowceptLLM around local stand-in models (no network): what each response shape gives, secrets, errors, and calls
with no active Flowcept. Tasks are read back through Flowcept.db after the run stops."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from flowcept_mcp import llm_response

from flowcept import Flowcept
from flowcept.instrumentation.flowcept_agent_task import FlowceptLLM, agent_flowcept_task


class OpenAIShaped:
    """Answers like a chat-completions API (a dict with choices and usage)."""

    def __init__(self):
        self.model = "gpt-like"
        self.client_options = {"organization": "org-1", "openai_api_key": "sk-abcdef0123456789", "timeout": 30}

    def invoke(self, messages):
        return {"model": "gpt-like-2026", "choices": [{"message": {"role": "assistant", "content": "4"},
                                                       "finish_reason": "length"}],
                "usage": {"prompt_tokens": 11, "completion_tokens": 1, "total_tokens": 12}}


class LangChainShaped:
    """Answers like a LangChain chat model (an object with usage_metadata and response_metadata)."""

    model_name = "lc-model"

    def invoke(self, messages, stop=None):
        return SimpleNamespace(content=[{"type": "text", "text": "fi"}, {"type": "text", "text": "ne"}],
                               usage_metadata={"input_tokens": 7, "output_tokens": 2, "total_tokens": 9},
                               response_metadata={"stop_reason": "end_turn"})


class Broken:
    def invoke(self, messages):
        raise ConnectionError("no route to model")


def _llm_tasks(fc: Flowcept) -> list[dict]:
    return Flowcept.db.query({"workflow_id": fc.current_workflow_id, "activity_id": "llm_interaction"}) or []


def test_usage_and_finish_reason_are_read_from_an_openai_shaped_response():
    llm = FlowceptLLM(OpenAIShaped())
    with Flowcept(workflow_name="llm") as fc:
        answer = llm.invoke([{"role": "user", "content": "2+2?"}])
    assert answer["choices"][0]["message"]["content"] == "4"  # the response is returned unchanged
    (doc,) = _llm_tasks(fc)
    assert doc["used"] == {"prompt": [{"role": "user", "content": "2+2?"}]}
    assert doc["generated"] == {"response": "4"}
    meta = doc["custom_metadata"]
    assert meta["usage"] == {"input_tokens": 11, "output_tokens": 1, "total_tokens": 12, "estimated": False}
    assert meta["finish_reason"] == "length"
    assert meta["model_name"] == "gpt-like"
    assert meta["model_config"]["client_options"] == {"organization": "org-1", "openai_api_key": "***",
                                                      "timeout": 30}
    assert "sk-abcdef" not in json.dumps(doc, default=str)
    assert "parent_task_id" not in doc  # called outside any task


def test_a_langchain_shaped_response_gives_text_blocks_usage_and_stop_reason():
    llm = FlowceptLLM(LangChainShaped(), tags=["chat"], custom_metadata={"purpose": "test"})
    with Flowcept(workflow_name="llm") as fc:
        llm.invoke("Say fine.", stop=["\n"])
    (doc,) = _llm_tasks(fc)
    assert doc["used"] == {"prompt": "Say fine.", "invoke_kwargs": {"stop": ["\n"]}}
    assert doc["generated"] == {"response": "fine"}
    assert doc["tags"] == ["chat"]
    meta = doc["custom_metadata"]
    assert meta["purpose"] == "test"
    assert meta["usage"]["total_tokens"] == 9 and meta["usage"]["estimated"] is False
    assert meta["finish_reason"] == "end_turn"


def test_usage_is_estimated_and_marked_so_when_the_response_has_none():
    usage = llm_response.token_usage("abcdefgh", "abcd", "abcdefgh")
    assert usage == {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3, "estimated": True,
                     "method": "chars/4"}


def test_a_model_error_is_recorded_and_raised():
    llm = FlowceptLLM(Broken())
    with Flowcept(workflow_name="llm") as fc:
        with pytest.raises(ConnectionError, match="no route"):
            llm.invoke("hello")
    (doc,) = _llm_tasks(fc)
    assert doc["status"] == "ERROR" and doc["stderr"] == "ConnectionError: no route to model"
    assert doc["used"] == {"prompt": "hello"}


def test_without_an_active_flowcept_calls_go_straight_through():
    @agent_flowcept_task
    def tool(x: int) -> int:
        return FlowceptLLM(OpenAIShaped()).invoke([("user", str(x))])["usage"]["total_tokens"] + x

    assert tool(1) == 13
    with pytest.raises(ConnectionError):
        FlowceptLLM(Broken()).invoke("x")


def test_the_wrapper_passes_other_attributes_to_the_model():
    model = LangChainShaped()
    llm = FlowceptLLM(model)
    assert llm.model_name == "lc-model" and llm.llm is model
    assert llm("hi").usage_metadata["total_tokens"] == 9  # calling it is invoke


def test_wrapping_something_without_invoke_names_what_is_needed():
    with pytest.raises(TypeError, match=r"invoke\(messages\) method; got 42 of type int"):
        FlowceptLLM(42)


def test_unknown_decorator_options_are_refused_with_the_allowed_ones():
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['colour'\]; allowed: \['agent_id', 'output_names'"):
        agent_flowcept_task(colour="red")


def test_config_masks_secret_values_under_any_key_and_drops_clients():
    class Model:
        def __init__(self):
            self.temperature = 0.2
            self.extra = {"bearer": "abc", "headers": {"Authorization": "Bearer xyz"}, "notes": "sk-hidden-value"}
            self.client = object()
            self._private = "p"

        def invoke(self, messages):
            return ""

    config = llm_response.model_config(Model())
    assert config == {"temperature": 0.2, "extra": {"bearer": "***", "headers": {"Authorization": "***"},
                                                    "notes": "***"}}


class AsyncModel:
    """Has LangChain's async call as well."""

    def invoke(self, messages):
        return "sync"

    async def ainvoke(self, messages):
        return {"content": "async answer", "usage_metadata": {"input_tokens": 2, "output_tokens": 2}}


def test_ainvoke_is_recorded_like_invoke_and_a_model_without_it_says_so():
    import asyncio

    llm = FlowceptLLM(AsyncModel())
    with Flowcept(workflow_name="llm") as fc:
        answer = asyncio.run(llm.ainvoke([("user", "hello")]))
    assert answer["content"] == "async answer"
    (doc,) = _llm_tasks(fc)
    assert doc["generated"] == {"response": "async answer"} and doc["status"] == "FINISHED"
    assert doc["custom_metadata"]["usage"]["total_tokens"] == 4
    with pytest.raises(AttributeError, match="has no ainvoke"):
        asyncio.run(FlowceptLLM(Broken()).ainvoke("x"))


def test_no_api_key_survives_in_any_configuration_shape():
    hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed")
    st = hypothesis.strategies
    secret_keys = st.sampled_from(["api_key", "openai_api_key", "apiKey", "X-Api-Key", "token", "access_token",
                                   "password", "secret", "anthropic_key", "Authorization", "bearer", "auth"])
    plain_keys = st.sampled_from(["model", "temperature", "max_tokens", "base_url", "options", "headers", "n"])
    leaves = st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=5), st.none())
    trees = st.recursive(leaves, lambda inner: st.dictionaries(plain_keys, inner, max_size=4), max_leaves=12)

    @hypothesis.given(trees, st.lists(plain_keys, max_size=2), secret_keys, st.booleans())
    @hypothesis.settings(max_examples=200, deadline=None)
    def check(tree, path, secret_key, provider_shaped):
        config = tree if isinstance(tree, dict) else {"value": tree}
        node = config
        for name in path:  # somewhere down the configuration
            child = node.get(name)
            node = node[name] = child if isinstance(child, dict) else {}
        if provider_shaped:  # a key-shaped value under an innocent name
            value = "sk-" + "k3y" * 6
            node["notes"] = value
        else:  # any value under a secret-named key
            value = "plain-looking-credential-42"
            node[secret_key] = value

        class Model:
            def invoke(self, messages):
                return ""

        model = Model()
        model.settings = config
        assert value not in json.dumps(llm_response.model_config(model))

    check()
