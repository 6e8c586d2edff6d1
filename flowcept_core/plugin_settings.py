"""Checking the settings sections the chosen plugins declare (their SettingsSection on the spec).

Called by Flowcept.start() (through flowcept_core.interceptors.start_interceptors) once the registry is loaded: the
MQ backend named by ``mq.type`` (online mode), every enabled store, and every chosen interceptor. A bad value raises
SettingsError naming the key, the value and what is allowed; unknown keys are logged as warnings.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time (see flowcept_core.capture.context)
if TYPE_CHECKING:
    from typing import Any


__all__ = ["check_plugin_settings", "declared_mq_keys"]

_PLUGIN_SECTIONS = ("mq", "databases", "adapters", "instrumentation")  # where plugins declare their keys


def declared_mq_keys() -> set[str]:
    """The mq.* keys the installed MQ backends declare (settings validation asks when a key is not the core's).

    Builds a registry of its own from the environment alone: it runs while the settings themselves are loading.
    """
    from flowcept_core.registry import PluginRegistry

    keys: set[str] = set()
    try:
        for provided in PluginRegistry().provided("mq_backend"):
            if provided.spec.settings is not None and provided.spec.settings.path == "mq":
                keys.update(provided.spec.settings.keys)
    except Exception:  # a broken plugin must not break loading settings; start() reports it
        pass
    return keys


def check_plugin_settings(settings: Any, interceptors: list[tuple[str, str]] | None = None,
                          registry: Any = None) -> list[str]:
    """Validate the chosen plugins' sections; return the warnings (unknown keys). Raises SettingsError.

    interceptors: (adapters key, interceptor kind) pairs; their sections live under ``adapters.<key>``.
    """
    from flowcept_core.interceptors import BUILTIN
    from flowcept_core.settings_tree import DEFAULTS

    plugins_chosen = [kind for _, kind in interceptors or () if kind != BUILTIN]
    if not plugins_chosen and all(settings.section(name) == DEFAULTS.get(name, {}) for name in _PLUGIN_SECTIONS):
        return []  # the plugins' sections are the built-in defaults, valid as they are: no discovery needed
    online = settings.get("project.db_flush_mode") == "online" and settings.get("mq.enabled", True)
    databases = settings.section("databases")
    if not plugins_chosen and not online and not any(isinstance(sec, dict) and sec.get("enabled")
                                                     for sec in databases.values()):
        return []  # no MQ, no store, only the built-in interceptor (its section is checked with the core's keys)
    if registry is None:
        from flowcept_core.registry import get_registry

        registry = get_registry()
    warnings: list[str] = []
    mq_name = settings.get("mq.type") or "memory"
    if online and mq_name in registry.names("mq_backend"):
        section = registry.resolve("mq_backend", mq_name).settings
        own = dict(section.keys) if section is not None else {}
        if section is not None:
            section.validate(settings)
        warnings += _unknown("mq", settings.section("mq"), [*DEFAULTS["mq"], *own])
    stores = set(registry.names("store"))
    for name, sec in databases.items():
        if isinstance(sec, dict) and sec.get("enabled") and name in stores:
            section = registry.resolve("store", name).settings
            if section is not None:
                warnings += section.validate(settings)
    kinds = set(registry.names("interceptor"))
    for key, kind in interceptors or ():
        if kind not in kinds:
            continue
        section = registry.resolve("interceptor", kind).settings
        if section is not None and section.path.startswith("adapters."):
            import dataclasses

            section = dataclasses.replace(section, path=f"adapters.{key}")
            warnings += section.validate(settings, core_keys=("kind", "enabled"))
        elif section is not None:
            warnings += section.validate(settings)
    return warnings


def _unknown(path: str, given: dict, known: list[str]) -> list[str]:
    out = []
    for name in given:
        if name not in known:
            import difflib  # only for a misspelt key

            near = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {path}.{near[0]}?" if near else ""
            out.append(f"unknown settings key {path}.{name} is ignored{hint}")
    return out
