"""Stands for the third-party library the interceptor observes: a pipeline that runs named steps and lets
listeners know about each one. Replace it with the real library in your plugin."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["Pipeline", "StepEvent", "listeners"]

listeners: list[Callable[[StepEvent], None]] = []  # called after every step of every pipeline


class StepEvent:
    def __init__(self, pipeline: Pipeline, name: str, inputs: dict, output: Any, started: float, ended: float):
        self.pipeline, self.name, self.inputs, self.output = pipeline, name, inputs, output
        self.started, self.ended = started, ended


class Pipeline:
    def __init__(self, name: str = "pipeline"):
        self.name = name

    def run_step(self, name: str, fn: Callable[..., Any] = lambda **kw: None, **inputs: Any) -> Any:
        started = time.time()
        output = fn(**inputs)
        event = StepEvent(self, name, inputs, output, started, time.time())
        for listener in list(listeners):
            listener(event)
        return output
