"""Hook implementations of the dup fixture (entry point ``dup_memory``): MQ backends "memory" and "dup_only".

Inert unless the environment has ``FLOWCEPT_FIXTURE_DUP=1`` at the time the registry collects MQ backends:
installed into the test venv, an always-on duplicate of "memory" would make every ``mq.type: memory`` run in that
venv fail with DuplicatePluginError. The registry tests set the variable with monkeypatch.
"""

from __future__ import annotations

import os

from flowcept_core.plugin import MQBackendSpec, hookimpl

ACTIVATION_ENV = "FLOWCEPT_FIXTURE_DUP"


def _memory_factory(settings, channel=None):
    from flowcept_core.builtins.memory_mq import MemoryMQ

    return MemoryMQ(settings, channel)


@hookimpl
def flowcept_mq_backends():
    if os.environ.get(ACTIVATION_ENV) != "1":
        return []
    return [
        MQBackendSpec("memory", _memory_factory, None, "fixture: duplicates the built-in memory MQ"),
        MQBackendSpec("dup_only", _memory_factory, None, "fixture: a name only this plugin provides"),
    ]
