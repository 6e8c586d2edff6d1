"""Liveness of the services the settings name, and the settings checks ``flowcept settings --check`` runs.

``services_status`` answers for the MQ (online mode) and each enabled store; ``check_settings`` finds, without
starting anything, every problem ``Flowcept.start()`` would stop on or warn about.
"""

from __future__ import annotations

from typing import Any

__all__ = ["services_status", "check_settings", "missing_store_plugins", "warn_if_unreachable", "store_install_hint"]


def services_status(settings: Any) -> dict[str, tuple[bool, str]]:
    """{service: (alive, detail)} for the MQ and every enabled store; never raises.

    detail is "alive", or why the service is down (the exception's type and message, or "no answer").
    """
    status: dict[str, tuple[bool, str]] = {}
    if settings.get("mq.enabled", True) and settings.get("project.db_flush_mode") == "online":
        name = f"mq:{settings.get('mq.type')}"
        try:
            from flowcept_core.mq import open_mq

            mq = open_mq(settings)
            try:
                status[name] = _answer(mq)
            finally:
                mq.close(0)
        except Exception as e:
            status[name] = (False, f"{type(e).__name__}: {e}")
    from flowcept_core.query import enabled_store_names, open_store

    for store_name in enabled_store_names(settings):
        try:
            status[f"store:{store_name}"] = _answer(open_store(settings, store_name))
        except Exception as e:
            status[f"store:{store_name}"] = (False, f"{type(e).__name__}: {e}")
    for store_name in missing_store_plugins(settings):
        status[f"store:{store_name}"] = (False, _missing_plugin_text(store_name))
    return status


def _answer(service: Any) -> tuple[bool, str]:
    ok = bool(service.liveness_test())
    return ok, "alive" if ok else "no answer to the liveness test"


def missing_store_plugins(settings: Any) -> list[str]:
    """Stores enabled in the settings (``databases.<name>.enabled``) whose plugin is not installed."""
    from flowcept_core.registry import get_registry

    dbs = settings.section("databases")
    wanted = [n for n, sec in dbs.items() if isinstance(sec, dict) and sec.get("enabled")]
    if not wanted:
        return []
    installed = set(get_registry().names("store"))
    return [n for n in wanted if n not in installed]


def store_install_hint(name: str) -> str:
    """The command that installs the plugin of store name (from a source checkout: the plugin's directory)."""
    try:
        from flowcept_core.plugin_factory import install_hint
    except ImportError:
        return f'pip install "flowcept[{name}]"'
    return install_hint(name, name)


def _missing_plugin_text(name: str) -> str:
    return (f"databases.{name}.enabled is true but the {name} store plugin is not installed; "
            f"install it with: {store_install_hint(name)}")


def check_settings(settings: Any, missing_path_is_error: bool = True) -> tuple[list[str], list[str]]:
    """(errors, warnings): what Flowcept.start() would stop on, and what it would only warn about.

    Called by ``flowcept settings --check``. Checks the settings path, the MQ backend ``mq.type`` names (online
    mode), the interceptor and consumer names, the telemetry values, the store plugins, and the settings section
    each chosen plugin declares. Starts no service and never raises. A FLOWCEPT_SETTINGS_PATH naming no file is an
    error when missing_path_is_error, else the warning a run gives.
    """
    errors: list[str] = []
    warnings = list(settings.warnings)
    if settings.missing_path and missing_path_is_error:
        errors.append(f"FLOWCEPT_SETTINGS_PATH={settings.missing_path!r} does not name an existing file")
        warnings = [w for w in warnings if "FLOWCEPT_SETTINGS_PATH" not in w]
    from flowcept_core.registry import get_registry

    registry = get_registry()
    chosen: list[tuple[str, str]] = [("interceptor", "instrumentation")]
    if settings.get("project.db_flush_mode") == "online" and settings.get("mq.enabled", True):
        chosen.append(("mq_backend", settings.get("mq.type") or "memory"))
    chosen += [("consumer", str(n)) for n in settings.get("plugins.consumers") or []]
    store_names = [n for n, sec in settings.section("databases").items() if isinstance(sec, dict) and
                   sec.get("enabled") and n not in missing_store_plugins(settings)]
    chosen += [("store", n) for n in store_names]
    for kind, name in chosen:
        try:
            spec = registry.resolve(kind, name)
            load = getattr(spec.factory, "load", None)
            if load is not None:  # imports the plugin's library: a missing one is named with its install command
                load()
            section = getattr(spec, "settings", None)
            if section is not None and hasattr(section, "validate"):
                warnings.extend(section.validate(settings))
        except Exception as e:
            errors.append(_one_line(e))
    for name in missing_store_plugins(settings):
        (errors if settings.is_explicit(f"databases.{name}.enabled") else warnings).append(_missing_plugin_text(name))
    try:
        from flowcept_core.telemetry import TelemetryConfig

        TelemetryConfig.from_settings(settings.section("telemetry_capture"))
    except ImportError:
        pass
    except Exception as e:
        errors.append(_one_line(e))
    return errors, list(dict.fromkeys(warnings))


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text or type(e).__name__


def warn_if_unreachable(settings: Any, listener: str, unless_producing: bool = True) -> None:
    """Called when a consumer or a persistence-only Flowcept starts listening: on the in-process MQ, warn once per
    process that producers in other processes cannot reach it, naming the setting to change.

    unless_producing: stay quiet when a Flowcept runs in this process (it feeds the listener), as in a test or a
    single script; a persistence-only Flowcept passes False, since its producers are meant to be elsewhere.
    """
    if (settings.get("mq.type") or "memory") != "memory":
        return
    if unless_producing and _producing_here():
        return
    from flowcept_core.settings import warn_settings

    warn_settings(f"{listener} listens on the in-process MQ (mq.type: memory), which carries messages only within "
                  "this process: producers in other processes cannot reach it and what they capture is not "
                  "received here. For a separate consumer process, set mq.type to a networked MQ (redis, kafka or "
                  "rabbitmq) in the settings of every process")


def _producing_here() -> bool:
    import sys

    from flowcept_core.capture.context import STATE

    controller = sys.modules.get("flowcept_core.controller")
    return bool(STATE.stack) or bool(controller is not None and controller._started)
