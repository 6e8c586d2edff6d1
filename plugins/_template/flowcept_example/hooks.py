"""Hooks of flowcept-example: only the spec. Importing this module must stay cheap (``flowcept plugins`` imports it):
the interceptor module, and the library it observes, are imported when a user chooses ``example``."""

from __future__ import annotations

from flowcept_core.plugin import InterceptorSpec, Key, SettingsSection, hookimpl

__all__ = ["flowcept_interceptors", "SETTINGS"]

# adapters.example.* in settings.yaml (or adapters.<any key> with kind: example)
SETTINGS = SettingsSection("adapters.example", {
    "kind": Key(str, "example"),
    "enabled": Key(bool, False),
    "capture_inputs": Key(bool, True),
})


@hookimpl
def flowcept_interceptors() -> list[InterceptorSpec]:
    """Called once when the registry collects interceptors; returns the ``example`` spec."""
    return [InterceptorSpec(
        "example",
        "flowcept_example.interceptor:ExampleInterceptor",
        SETTINGS,
        "example: each Pipeline step becomes a task",
        requires=("flowcept_example.pipeline",),  # the observed library; a missing one gets the install hint
        extra=None,
        kwargs=("pipeline",),  # Flowcept(interceptors=["example"], pipeline=p) observes only p
    )]
