"""Hooks of flowcept-dask (entry point ``dask``): the spec only. Importing this module must stay cheap (``flowcept
plugins`` imports it): the interceptor module, and distributed, are imported when a user chooses ``dask``."""

from __future__ import annotations

from flowcept_core.plugin import InterceptorSpec, Key, SettingsSection, hookimpl

__all__ = ["flowcept_interceptors", "SETTINGS"]

# adapters.dask.* in settings.yaml (or adapters.<any key> with kind: dask); upstream's keys and defaults
SETTINGS = SettingsSection("adapters.dask", {
    "kind": Key(str, "dask"),
    "enabled": Key(bool, False),
    "worker_should_get_input": Key(bool, True),
    "worker_should_get_output": Key(bool, True),
    "scheduler_should_get_input": Key(bool, True),
    "scheduler_create_timestamps": Key(bool, True),
    "worker_create_timestamps": Key(bool, False),
    "scheduler_should_send_submitted": Key(bool, True),  # SUBMITTED messages of tasks waiting longer than a batch
    "worker_should_send_running": Key(bool, True),  # RUNNING messages of tasks executing longer than a batch
    "flush_interval_secs": Key((int, float), 0.1, minimum=0.01),
    "stop_timeout_secs": Key((int, float), 30, minimum=0),
    # upstream sent worker messages through Redis; here they travel through Dask, so these are accepted and unused
    "redis_host": Key((str, type(None)), None),
    "redis_port": Key((int, type(None)), None),
})


@hookimpl
def flowcept_interceptors() -> list[InterceptorSpec]:
    """Called once when the registry collects interceptors; returns the ``dask`` spec."""
    return [InterceptorSpec(
        "dask",
        "flowcept_dask.interceptor:DaskInterceptor",
        SETTINGS,
        "dask: every task of a Dask distributed run (scheduler and worker plugins on the given client)",
        requires=("distributed",),
        extra="dask",
        kwargs=("dask_client",),  # Flowcept(interceptors=["dask"], dask_client=client)
    )]
