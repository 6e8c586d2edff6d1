"""Built-in plugins, registered through the same hooks as installed plugins: the memory MQ and the
instrumentation interceptor."""

from __future__ import annotations

from flowcept_core.hookspecs import InterceptorSpec, MQBackendSpec, hookimpl


def _memory_factory(settings, channel=None):
    from flowcept_core.builtins.memory_mq import MemoryMQ

    return MemoryMQ(settings, channel)


def _instrumentation_factory(settings, **kwargs):
    from flowcept_core.builtins.instrumentation import InstrumentationInterceptor

    return InstrumentationInterceptor(settings)


@hookimpl
def flowcept_mq_backends():
    return [MQBackendSpec("memory", _memory_factory, {"channel": str},
                          "in-process publish/subscribe (no server; producers and consumers in one process)")]


@hookimpl
def flowcept_interceptors():
    return [InterceptorSpec("instrumentation", _instrumentation_factory, {"enabled": bool},
                            "decorators, FlowceptTask and loops in this process")]
