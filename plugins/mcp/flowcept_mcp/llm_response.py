"""Reading what an LLM call took and gave, whatever the client library: the prompt as plain values, the response
text, token usage, finish reason, model name, and the model's configuration without secrets.

Shapes understood: plain strings; message lists (dicts with role/content, (role, content) pairs, LangChain-style
messages with ``type``/``content``); responses that are strings, dicts or objects in the OpenAI chat-completion shape
(``choices[0].message.content``, ``usage.prompt_tokens``), the Anthropic shape (``content`` blocks, ``usage``,
``stop_reason``) or the LangChain shape (``content``, ``usage_metadata``, ``response_metadata``).
Called off the model's call, once per invocation; never raises into the caller (the wrapper logs).
"""

from __future__ import annotations

import math
from typing import Any

from flowcept_core.plugin import DEFAULT_REDACTOR, MASK

__all__ = ["prompt_of", "response_text", "token_usage", "finish_reason", "model_name", "model_config",
           "estimate_tokens"]

_PLAIN = (str, int, float, bool, type(None))
_CONFIG_DEPTH = 3
# besides the core's secret words: any key naming a key (openai_key, x-key) or a bearer header
_EXTRA_SECRET_PARTS = ("key", "bearer", "auth")


def _get(obj: Any, name: str) -> Any:
    """obj[name] for a mapping, else getattr(obj, name); None when absent."""
    if isinstance(obj, dict):
        return obj.get(name)
    try:
        return getattr(obj, name, None)
    except Exception:
        return None


def _text(content: Any) -> Any:
    """A message content as text: a string as is; a list of blocks as their texts joined; else the value."""
    if isinstance(content, str) or content is None:
        return content
    if isinstance(content, (list, tuple)):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            else:
                text = _get(block, "text")
                if isinstance(text, str):
                    parts.append(text)
        return "".join(parts) if parts else None
    return str(content)


def _message(m: Any) -> Any:
    """One prompt message as plain values."""
    if isinstance(m, _PLAIN):
        return m
    if isinstance(m, (tuple, list)) and len(m) == 2 and isinstance(m[0], str):
        return {"role": m[0], "content": _text(m[1])}
    role = _get(m, "role") or _get(m, "type")
    content = _get(m, "content")
    if role is None and content is None:
        return str(m)
    return {"role": role, "content": _text(content)}


def prompt_of(messages: Any) -> Any:
    """The prompt as plain values: a string as is; a list of messages as [{role, content}, ...]."""
    if isinstance(messages, _PLAIN):
        return messages
    if isinstance(messages, (list, tuple)):
        return [_message(m) for m in messages]
    to_messages = _get(messages, "to_messages")  # a LangChain PromptValue
    if callable(to_messages):
        return [_message(m) for m in to_messages()]
    return _message(messages)


def _first_choice(response: Any) -> Any:
    choices = _get(response, "choices")
    if isinstance(choices, (list, tuple)) and choices:
        return choices[0]
    return None


def response_text(response: Any) -> Any:
    """The text the model produced (None when none can be found)."""
    if isinstance(response, str) or response is None:
        return response
    choice = _first_choice(response)
    if choice is not None:
        message = _get(choice, "message")
        if message is not None:
            return _text(_get(message, "content"))
        return _text(_get(choice, "text"))
    for name in ("content", "text", "output_text", "response", "output"):
        value = _get(response, name)
        if value is not None:
            return _text(value)
    return str(response)


def _usage_numbers(usage: Any) -> dict | None:
    if usage is None:
        return None
    inp = _get(usage, "input_tokens")
    if inp is None:
        inp = _get(usage, "prompt_tokens")
    out = _get(usage, "output_tokens")
    if out is None:
        out = _get(usage, "completion_tokens")
    total = _get(usage, "total_tokens")
    if not any(isinstance(v, int) for v in (inp, out, total)):
        return None
    if total is None and isinstance(inp, int) and isinstance(out, int):
        total = inp + out
    return {"input_tokens": inp, "output_tokens": out, "total_tokens": total}


def estimate_tokens(text: Any) -> int:
    """A rough token count of a text: one token per four characters (at least one for a non-empty text)."""
    if text is None:
        return 0
    s = text if isinstance(text, str) else str(text)
    return math.ceil(len(s) / 4) if s else 0


def token_usage(response: Any, prompt: Any, text: Any) -> dict:
    """Token usage as the response reports it (``estimated: False``), else an estimate from the prompt and response
    lengths (``estimated: True``, ``method: "chars/4"``)."""
    if not isinstance(response, _PLAIN):
        metadata = _get(response, "response_metadata")
        for usage in (_get(response, "usage_metadata"), _get(response, "usage"),
                      _get(metadata, "token_usage"), _get(metadata, "usage")):
            numbers = _usage_numbers(usage)
            if numbers is not None:
                return {**numbers, "estimated": False}
    if isinstance(prompt, list):
        prompt_text = "\n".join(str(m.get("content") if isinstance(m, dict) else m) for m in prompt)
    else:
        prompt_text = prompt
    inp, out = estimate_tokens(prompt_text), estimate_tokens(text)
    return {"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out, "estimated": True,
            "method": "chars/4"}


def finish_reason(response: Any) -> Any:
    """Why the model stopped (finish_reason / stop_reason wherever the response keeps it), or None."""
    if isinstance(response, _PLAIN):
        return None
    for holder in (response, _first_choice(response), _get(response, "response_metadata")):
        if holder is None:
            continue
        for name in ("finish_reason", "stop_reason", "done_reason"):
            value = _get(holder, name)
            if isinstance(value, str):
                return value
    return None


def model_name(model: Any, response: Any = None) -> str | None:
    """The model's name as the model object or the response states it."""
    for holder in (model, response, _get(response, "response_metadata")):
        if holder is None or isinstance(holder, _PLAIN):
            continue
        for name in ("model_name", "model", "model_id"):
            value = _get(holder, name)
            if isinstance(value, str) and value:
                return value
    return None


def _secret(key: Any) -> bool:
    if not isinstance(key, str):
        return False
    if DEFAULT_REDACTOR.secret_key(key):
        return True
    low = key.lower().replace("-", "_")
    return any(low == part or low.endswith("_" + part) or low.startswith(part + "_") for part in _EXTRA_SECRET_PARTS)


def _looks_secret_value(value: Any) -> bool:
    """A pydantic SecretStr / SecretBytes or the like, or a string shaped like a provider key (sk-..., Bearer ...)."""
    if "secret" in type(value).__name__.lower():
        return True
    return isinstance(value, str) and value.startswith(("sk-", "Bearer ", "bearer "))


def _plain_config(value: Any, depth: int) -> Any:
    """value as plain data with secrets masked; objects that are not configuration (clients, callables) dropped."""
    if _looks_secret_value(value):
        return MASK
    if isinstance(value, _PLAIN):
        return value
    if depth <= 0:
        return None
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str) or k.startswith("_"):
                continue
            if _secret(k):
                out[k] = MASK if v is not None else None
                continue
            plain = _plain_config(v, depth - 1)
            if plain is not None or v is None:
                out[k] = plain
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_plain_config(v, depth - 1) for v in list(value)[:64]]
        return [v for v in items if v is not None]
    return None


def model_config(model: Any) -> dict:
    """The model's configuration as plain data, every secret masked: ``model_dump()`` (pydantic models, LangChain
    chat models), else the public plain attributes. API keys never appear (masked under their key, and any value
    that is a secret type or shaped like a provider key)."""
    raw: Any = None
    dump = _get(model, "model_dump")
    if callable(dump):
        try:
            raw = dump()
        except Exception:
            raw = None
    if not isinstance(raw, dict):
        raw = {}
        for klass in reversed(type(model).__mro__[:-1]):  # plain class-level settings (model_name = "m"), then
            raw.update((k, v) for k, v in vars(klass).items() if isinstance(v, _PLAIN))
        try:  # the instance's own attributes
            raw.update(vars(model))
        except TypeError:
            pass
    config = _plain_config(raw, _CONFIG_DEPTH)
    return config if isinstance(config, dict) else {}
