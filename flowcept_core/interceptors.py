"""Choosing and starting interceptors for a Flowcept run.

Names come from ``Flowcept(interceptors=[...])``; a name may be a key under ``adapters`` whose ``kind`` names the
interceptor (upstream's settings layout: ``adapters: {my_dask: {kind: dask, ...}}``). With no names given, the run
starts ``instrumentation`` plus every ``adapters.<key>`` with ``enabled: true``. ``instrumentation`` is always
started first unless ``instrumentation.enabled`` is false, so ``Flowcept("dask")`` keeps decorators capturing.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time (see flowcept_core.capture.context)
if TYPE_CHECKING:
    from typing import Any


__all__ = ["normalize_interceptors", "chosen_interceptors", "accepted_kwargs", "start_interceptors"]

BUILTIN = "instrumentation"


def normalize_interceptors(interceptors: Any) -> list[Any] | None:
    """The ``interceptors=`` argument as a list of names and interceptor objects (or None); called by
    Flowcept.__init__. An object is anything with start(emitter) and stop() (e.g. an Interceptor subclass instance,
    started as it is). TypeError naming the bad item otherwise."""
    if interceptors is None:
        return None
    if isinstance(interceptors, str) or _is_interceptor(interceptors):
        interceptors = [interceptors]
    if not isinstance(interceptors, list | tuple):
        raise TypeError(f"interceptors={interceptors!r} must be a name, an interceptor, or a list of them, "
                        "e.g. ['instrumentation']")
    for item in interceptors:
        if not isinstance(item, str) and not _is_interceptor(item):
            raise TypeError(f"interceptors item {item!r} is neither a name (e.g. 'instrumentation') nor an "
                            "interceptor (an object with start(emitter) and stop())")
    return list(interceptors)


def _is_interceptor(obj: Any) -> bool:
    return callable(getattr(obj, "start", None)) and callable(getattr(obj, "stop", None))


def chosen_interceptors(names: list[Any] | None, settings: Any) -> list[tuple[Any, str]]:
    """(name as given, interceptor kind) pairs to start, in order; called at start() and to check kwargs. An
    interceptor object stands for itself: (object, its kind)."""
    adapters = settings.section("adapters")
    if names is None:
        names = [key for key, sec in adapters.items() if isinstance(sec, dict) and sec.get("enabled") is True]
    chosen = []
    for name in names:
        if not isinstance(name, str):
            chosen.append((name, str(getattr(name, "kind", "") or type(name).__name__)))
            continue
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


def accepted_kwargs(names: list[str] | None, args: tuple, kwargs: dict[str, Any],
                    settings: Any = None) -> dict[str, Any]:
    """The Flowcept(...) keyword arguments the chosen interceptors accept (InterceptorSpec.kwargs); interceptors
    chosen in settings (``adapters``) are read from ``settings``, or the process settings when None.

    Called by Flowcept.__init__; raises TypeError naming every argument no chosen interceptor accepts (a typo such as
    ``save_workflow_=`` is not silently ignored). Free when there are none.
    """
    if args:
        raise TypeError(f"Flowcept() got unexpected positional arguments {list(args)!r}; pass options by keyword")
    if not kwargs:
        return {}
    from flowcept_core.registry import get_registry

    if settings is None:
        from flowcept_core.settings import get_settings

        settings = get_settings()
    registry = get_registry()
    allowed: dict[str, str] = {}
    for key, kind in chosen_interceptors(names, settings):
        if isinstance(key, str) and kind in registry.names("interceptor"):
            for kw in registry.resolve("interceptor", kind).kwargs:
                allowed.setdefault(kw, kind)
    unknown = sorted(k for k in kwargs if k not in allowed)
    if unknown:
        accepted = sorted(allowed) or "none"
        raise TypeError(f"Flowcept() got unexpected keyword arguments {unknown}; the chosen interceptors "
                        f"({', '.join(k for _, k in chosen_interceptors(names, settings))}) accept: {accepted}")
    return dict(kwargs)


def start_interceptors(controller: Any, settings: Any, run: Any) -> list[Any]:
    """Check the chosen plugins' settings sections, then build and start each chosen interceptor with an Emitter
    over run; returns them in start order.

    On an error the ones already started are in the returned list's place on the controller (``_interceptors``) so
    the caller's clean-up stops them.
    """
    from flowcept_core.emitter import RunEmitter
    from flowcept_core.plugin_settings import check_plugin_settings
    from flowcept_core.runtime import RUNTIME

    chosen = chosen_interceptors(controller._interceptor_names, settings)
    named = [(k, kind) for k, kind in chosen if isinstance(k, str)]
    if chosen == [(BUILTIN, BUILTIN)] and RUNTIME.registry is None:
        # decorators only, plugins not discovered yet (they are by the start-up thread): the built-in interceptor
        # as the registry would give it, without loading the registry (pluggy) on the caller's path
        registry = None
    else:
        from flowcept_core.registry import get_registry

        registry = get_registry()
    for warning in check_plugin_settings(settings, named, registry):  # SettingsError for a bad plugin key
        from flowcept_core.logger import get_logger

        get_logger().warning(warning)
    emitter = RunEmitter(run, controller)
    started = controller._interceptors
    for key, kind in chosen:
        if not isinstance(key, str):  # an interceptor object given to Flowcept(interceptors=[...])
            key.start(emitter)
            started.append(key)
            continue
        if registry is None:
            from flowcept_core.builtins.instrumentation import InstrumentationInterceptor

            interceptor = InstrumentationInterceptor(settings)
            interceptor.start(emitter)
            started.append(interceptor)
            continue
        spec = registry.resolve("interceptor", kind)
        options = {k: v for k, v in controller._adapter_kwargs.items() if k in spec.kwargs}
        interceptor = spec.factory(settings, **options)
        interceptor.start(emitter)
        started.append(interceptor)
    return started
