"""Choosing and starting interceptors for a Flowcept run.

Names come from ``Flowcept(interceptors=[...])``; a name may be a key under ``adapters`` whose ``kind`` names the
interceptor (upstream's settings layout: ``adapters: {my_dask: {kind: dask, ...}}``). With no names given, the run
starts ``instrumentation`` plus every ``adapters.<key>`` with ``enabled: true``. ``instrumentation`` is always
started first unless ``instrumentation.enabled`` is false, so ``Flowcept("dask")`` keeps decorators capturing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["chosen_interceptors", "accepted_kwargs", "start_interceptors"]

BUILTIN = "instrumentation"


def chosen_interceptors(names: list[str] | None, settings: Any) -> list[tuple[str, str]]:
    """(name as given, interceptor kind) pairs to start, in order; called at start() and to check kwargs."""
    adapters = settings.section("adapters")
    if names is None:
        names = [key for key, sec in adapters.items() if isinstance(sec, dict) and sec.get("enabled") is True]
    chosen = []
    for name in names:
        section = adapters.get(name)
        kind = section.get("kind") if isinstance(section, dict) and section.get("kind") else name
        chosen.append((name, kind))
    if settings.get("instrumentation.enabled", True):
        if all(kind != BUILTIN for _, kind in chosen):
            chosen.insert(0, (BUILTIN, BUILTIN))
    else:
        if any(kind == BUILTIN for _, kind in chosen):
            from flowcept_core.logger import get_logger

            get_logger().info("instrumentation.enabled is false: decorated functions run without capture")
        chosen = [(n, k) for n, k in chosen if k != BUILTIN]
    return chosen


def accepted_kwargs(names: list[str] | None, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The Flowcept(...) keyword arguments the chosen interceptors accept (InterceptorSpec.kwargs).

    Called by Flowcept.__init__; raises TypeError naming every argument no chosen interceptor accepts (a typo such as
    ``save_workflow_=`` is not silently ignored). Free when there are none.
    """
    if args:
        raise TypeError(f"Flowcept() got unexpected positional arguments {list(args)!r}; pass options by keyword")
    if not kwargs:
        return {}
    from flowcept_core.registry import get_registry
    from flowcept_core.settings import get_settings

    registry = get_registry()
    allowed: dict[str, str] = {}
    for _, kind in chosen_interceptors(names, get_settings()):
        if kind in registry.names("interceptor"):
            for key in registry.resolve("interceptor", kind).kwargs:
                allowed.setdefault(key, kind)
    unknown = sorted(k for k in kwargs if k not in allowed)
    if unknown:
        accepted = sorted(allowed) or "none"
        raise TypeError(f"Flowcept() got unexpected keyword arguments {unknown}; the chosen interceptors "
                        f"({', '.join(k for _, k in chosen_interceptors(names, get_settings()))}) accept: {accepted}")
    return dict(kwargs)


def start_interceptors(controller: Any, settings: Any, run: Any) -> list[Any]:
    """Check the chosen plugins' settings sections, then build and start each chosen interceptor with an Emitter
    over run; returns them in start order.

    On an error the ones already started are in the returned list's place on the controller (``_interceptors``) so
    the caller's clean-up stops them.
    """
    from flowcept_core.emitter import RunEmitter
    from flowcept_core.plugin_settings import check_plugin_settings
    from flowcept_core.registry import get_registry

    registry = get_registry()
    chosen = chosen_interceptors(controller._interceptor_names, settings)
    for warning in check_plugin_settings(settings, chosen, registry):  # SettingsError for a bad plugin key
        from flowcept_core.logger import get_logger

        get_logger().warning(warning)
    emitter = RunEmitter(run, controller)
    started = controller._interceptors
    for _name, kind in chosen:
        spec = registry.resolve("interceptor", kind)
        options = {k: v for k, v in controller._adapter_kwargs.items() if k in spec.kwargs}
        interceptor = spec.factory(settings, **options)
        interceptor.start(emitter)
        started.append(interceptor)
    return started
