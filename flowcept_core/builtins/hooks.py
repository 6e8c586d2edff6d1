"""The built-in plugins' hook implementations (the memory MQ and the instrumentation interceptor), registered by the
registry as installed plugins' are."""

from __future__ import annotations

from flowcept_core.hookspecs import hookimpl
from flowcept_core.specs import InterceptorSpec, Key, MQBackendSpec, SettingsSection


@hookimpl
def flowcept_mq_backends():
    return [MQBackendSpec("memory", "flowcept_core.builtins.memory_mq:MemoryMQ",
                          summary="in-process publish/subscribe (no server; producers and consumers in one process)")]


@hookimpl
def flowcept_interceptors():
    return [InterceptorSpec("instrumentation", "flowcept_core.builtins.instrumentation:InstrumentationInterceptor",
                            SettingsSection("instrumentation", {"enabled": Key(bool, True)}, closed=False),
                            "decorators, FlowceptTask and loops in this process")]
