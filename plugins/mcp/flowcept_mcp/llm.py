"""``FlowceptLLM``: each call of a language model is a task.

Wrap any object with an ``invoke(messages)`` method (a LangChain chat model, a client adapter, a local function
behind a small class)::

    llm = FlowceptLLM(ChatModel(model="m", api_key="..."))
    reply = llm.invoke([("system", "Be brief."), ("user", "Sum 2 and 3.")])

Each call records a task with activity_id ``llm_interaction`` and subtype ``ai_model_invocation``: ``used.prompt``
(the messages as plain values), ``generated.response`` (the text), and in ``custom_metadata``: ``model_class``,
``model_name``, ``model_config`` (its configuration with every secret masked: API keys are never recorded),
``usage`` (token counts from the response when it reports them, else an estimate marked ``estimated: True``;
not ``token_usage``, a key secret masking would hide),
``finish_reason`` and ``latency_s``. Called inside an ``@agent_flowcept_task`` tool, the task is that tool's child;
it carries the agent's id. An exception from the model is recorded (status ERROR) and raised again. With no active
Flowcept the call goes straight to the model. Other attributes are read from the wrapped model.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from flowcept_core.plugin import Flowcept, FlowceptTask, get_logger
from flowcept_mcp import llm_response as lr
from flowcept_mcp._agents import agent_of

__all__ = ["FlowceptLLM", "LLM_ACTIVITY", "LLM_SUBTYPE"]

LLM_ACTIVITY = "llm_interaction"
LLM_SUBTYPE = "ai_model_invocation"


class FlowceptLLM:
    """A model whose every ``invoke`` is recorded (see the module docstring).

    ``agent_id``: the agent the calls are recorded for (default: the agent running the workflow); ``tags`` and
    ``custom_metadata`` are added to every task; ``activity_id`` / ``subtype`` replace the defaults.
    """

    def __init__(self, llm: Any, *, agent_id: str | None = None, tags: list[str] | None = None,
                 custom_metadata: dict | None = None, activity_id: str = LLM_ACTIVITY, subtype: str = LLM_SUBTYPE):
        if not callable(getattr(llm, "invoke", None)):
            raise TypeError(f"FlowceptLLM wraps an object with an invoke(messages) method; got {llm!r:.120} "
                            f"of type {type(llm).__name__}")
        if custom_metadata is not None and not isinstance(custom_metadata, dict):
            raise TypeError(f"custom_metadata={custom_metadata!r:.80} must be a dict")
        self.llm = llm
        self.agent_id = str(agent_id) if agent_id is not None else None
        self.tags = tags
        self.custom_metadata = custom_metadata
        self.activity_id = activity_id
        self.subtype = subtype
        cls = type(llm)
        self.model_class = f"{cls.__module__}.{cls.__qualname__}"
        self._config: dict | None = None  # read at the first recorded call

    @property
    def model_config(self) -> dict:
        """The wrapped model's configuration as recorded: plain values, secrets masked."""
        if self._config is None:
            try:
                self._config = lr.model_config(self.llm)
            except Exception as e:
                get_logger().warning(f"FlowceptLLM: could not read the configuration of {self.model_class}: {e}")
                self._config = {}
        return self._config

    def invoke(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
        """Call the model's ``invoke(messages, ...)``; record the call; return the model's response unchanged."""
        task, prompt = self._begin(messages, kwargs)
        if task is None:  # no active Flowcept
            return self.llm.invoke(messages, *args, **kwargs)
        with task:  # the model's own instrumented calls see this task as their parent; an exception ends it as ERROR
            t0 = perf_counter()
            response = self.llm.invoke(messages, *args, **kwargs)
            self._end(task, prompt, response, perf_counter() - t0)
        return response

    async def ainvoke(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
        """Await the model's ``ainvoke(messages, ...)`` (LangChain's async call), recorded as ``invoke`` is."""
        call = getattr(self.llm, "ainvoke", None)
        if call is None:
            raise AttributeError(f"{self.model_class} has no ainvoke(); use invoke()")
        task, prompt = self._begin(messages, kwargs)
        if task is None:
            return await call(messages, *args, **kwargs)
        with task:
            t0 = perf_counter()
            response = await call(messages, *args, **kwargs)
            self._end(task, prompt, response, perf_counter() - t0)
        return response

    def _begin(self, messages: Any, kwargs: dict) -> tuple[Any, Any]:
        """(the call's task, its prompt as recorded); (None, None) with no active Flowcept."""
        used: dict = {}
        agent = self.agent_id or agent_of(Flowcept.current_workflow_id)
        task = FlowceptTask(activity_id=self.activity_id, subtype=self.subtype, used=used, agent_id=agent,
                            tags=self.tags)
        if task.get_id() is None:
            return None, None
        prompt = None
        try:
            prompt = lr.prompt_of(messages)
            used["prompt"] = prompt
            if kwargs:
                used["invoke_kwargs"] = dict(kwargs)
        except Exception as e:
            get_logger().warning(f"FlowceptLLM: could not record the prompt: {type(e).__name__}: {e}")
        return task, prompt

    def _end(self, task: Any, prompt: Any, response: Any, latency: float) -> None:
        generated, metadata = self._describe(prompt, response, latency)
        task.end(generated=generated, custom_metadata=metadata)

    __call__ = invoke

    def _describe(self, prompt: Any, response: Any, latency: float) -> tuple[dict | None, dict]:
        """(generated, custom_metadata) of one call; what cannot be read is left out (and logged), never raised."""
        metadata: dict = {"model_class": self.model_class, "latency_s": latency}
        generated = None
        try:
            text = lr.response_text(response)
            generated = {"response": text}
            metadata["model_name"] = lr.model_name(self.llm, response)
            metadata["model_config"] = self.model_config
            metadata["usage"] = lr.token_usage(response, prompt, text)
            metadata["finish_reason"] = lr.finish_reason(response)
        except Exception as e:
            get_logger().warning(f"FlowceptLLM: could not read the response of {self.model_class}: "
                                 f"{type(e).__name__}: {e}")
        if self.custom_metadata:
            metadata = {**self.custom_metadata, **metadata}
        return generated, metadata

    def __getattr__(self, name: str) -> Any:
        # only called for names this wrapper lacks: the model's other methods and attributes
        if name == "llm":
            raise AttributeError(name)
        return getattr(self.llm, name)

    def __repr__(self) -> str:
        return f"FlowceptLLM({self.llm!r})"
