"""Hook implementations of the good fixture plugin (entry point ``echo_mq`` in group ``flowcept``)."""

from __future__ import annotations

from flowcept_core.plugin import ConsumerSpec, InterceptorSpec, MQBackendSpec, hookimpl


def _echo_factory(settings, channel=None):
    from flowcept_fixture_good.echo import EchoMQ

    return EchoMQ(settings, channel)


def _interceptor_factory(settings, *args, **kwargs):
    from flowcept_fixture_good.echo import FixtureInterceptor

    return FixtureInterceptor(settings)


@hookimpl
def flowcept_mq_backends():
    return [MQBackendSpec("echo", _echo_factory, {"channel": str}, "fixture: in-process MQ on its own channels")]


@hookimpl
def flowcept_interceptors():
    return [
        InterceptorSpec(
            "fixture_interceptor", _interceptor_factory, None, "fixture: emits one {'type': 'fixture'} message at start"
        )
    ]


def _consumer_factory(settings):
    from flowcept_fixture_good.echo import FixtureConsumer

    return FixtureConsumer(settings)


@hookimpl
def flowcept_consumers():
    return [ConsumerSpec("fixture_counter", _consumer_factory, None, "fixture: records every task id it receives")]
