"""The plugin registry: built-ins and entry points (group "flowcept") behind one pluggy PluginManager.

Built-ins register through the same hooks as plugins. Entry points load sorted by name unless
``FLOWCEPT_DISABLE_PLUGIN_AUTOLOAD=1`` (or ``plugins.autoload: false``); names in ``plugins.disabled`` are skipped.
A plugin that fails to import, implements a hook that does not exist, or returns a bad spec is recorded, not fatal
(``FLOWCEPT_STRICT_PLUGINS=1`` re-raises). Every spec handed out has a callable ``factory`` (a PluginFactory) that
imports the plugin's library on first call, with an install hint when it is missing.

Example::

    spec = get_registry().resolve("mq_backend", "redis")   # MQBackendSpec
    backend = spec.factory(settings)
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, overload

import pluggy

from flowcept_core import hookspecs
from flowcept_core.hookspecs import PROJECT_NAME
from flowcept_core.runtime import RUNTIME
from flowcept_core.specs import (
    NAME_RULE,
    CliCommandSpec,
    ConsumerSpec,
    InterceptorSpec,
    MQBackendSpec,
    PluginSpec,
    StoreSpec,
)

__all__ = ["PluginRegistry", "PluginError", "UnknownPluginError", "DuplicatePluginError", "PluginLoadError",
           "Provided", "get_registry", "reset_registry", "KINDS", "BUILTIN_DIST"]

BUILTIN_DIST = "flowcept (built-in)"
# kind -> (hook name, the settings key or argument a user types the name in, spec class)
KINDS: dict[str, tuple[str, str, type[PluginSpec]]] = {
    "mq_backend": ("flowcept_mq_backends", "mq.type", MQBackendSpec),
    "interceptor": ("flowcept_interceptors", "Flowcept(interceptors=[...]) or adapters.<key>.kind", InterceptorSpec),
    "store": ("flowcept_stores", "databases.<name>.enabled", StoreSpec),
    "consumer": ("flowcept_consumers", "plugins.consumers", ConsumerSpec),
    "cli_command": ("flowcept_cli_commands", "flowcept <command>", CliCommandSpec),
}
Kind = Literal["mq_backend", "interceptor", "store", "consumer", "cli_command"]


class PluginError(Exception):
    """Base class of registry errors."""


class UnknownPluginError(PluginError, LookupError):
    """No plugin provides the requested name."""


class DuplicatePluginError(PluginError):
    """Two distributions provide the same name for the same kind."""


class PluginLoadError(PluginError, ImportError):
    """The plugin providing the name failed to load (its module or a library it requires cannot be imported)."""


@dataclass(frozen=True)
class Provided:
    """One name of one kind, the spec behind it and the distribution that provides it."""

    kind: str
    name: str
    spec: PluginSpec
    dist: str


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


class PluginRegistry:
    """Loads plugins once and answers: which names exist per kind, who provides them, what failed."""

    def __init__(self, disabled: Iterable[str] = (), autoload: bool | None = None, strict: bool | None = None,
                 env: Mapping[str, str] | None = None, lazy: bool = False):
        """lazy: load the entry points on first need (a built-in name resolves without them; see resolve())."""
        env = os.environ if env is None else env
        self.disabled = set(disabled)
        if autoload is None:
            autoload = not _truthy(env.get("FLOWCEPT_DISABLE_PLUGIN_AUTOLOAD"))
        self.strict = _truthy(env.get("FLOWCEPT_STRICT_PLUGINS")) if strict is None else strict
        self.pm = pluggy.PluginManager(PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.failures: dict[str, str] = {}  # entry-point or spec name -> reason
        self._dist_of: dict[str, str] = {}  # registered plugin name -> distribution
        self._cache: dict[str, tuple[dict[str, Provided], dict[str, list[Provided]]]] = {}
        from flowcept_core.builtins import hooks as builtins

        self.register(builtins, name="flowcept-builtins", dist=BUILTIN_DIST)
        self._pending = bool(autoload) and lazy and not self.strict
        self._loading = threading.Lock()
        self._loader: int | None = None  # the thread loading the entry points, while it does
        self._early: set[tuple[str, str]] = set()  # built-in (kind, name)s resolved before the entry points loaded
        if autoload and not self._pending:
            self._load_entry_points()

    def ensure_loaded(self) -> None:
        """Load the entry points now if that was left for later (the start-up thread of Flowcept calls it). A
        plugin reusing a built-in name that was already handed out is logged as an error naming both."""
        if not self._pending:
            return
        if self._loader == threading.get_ident():
            return  # asked again from inside the load itself
        with self._loading:  # another thread may be asking for names meanwhile: it waits for the whole load
            if not self._pending:
                return
            self._loader = threading.get_ident()
            try:
                self._load_entry_points()
            finally:
                self._loader = None
                self._pending = False
        for kind, name in sorted(self._early):
            conflicts = self._collect(kind)[1].get(name)
            if conflicts:
                from flowcept_core.logger import get_logger

                dists = " and ".join(repr(p.dist) for p in conflicts)
                get_logger().error(f"{kind.replace('_', ' ')} name {name!r} is provided by both {dists}; the "
                                   f"built-in one is in use. Uninstall the other or list it in plugins.disabled")

    def _builtin_spec(self, kind: str, name: str) -> PluginSpec | None:
        if kind not in KINDS or name in self.disabled:
            return None
        for impl in getattr(self.pm.hook, KINDS[kind][0]).get_hookimpls():
            if impl.plugin_name == "flowcept-builtins":
                for spec in impl.function() or ():
                    if getattr(spec, "name", None) == name:
                        self._early.add((kind, name))
                        return self._checked(kind, spec, BUILTIN_DIST)
        return None

    def register(self, plugin: Any, name: str, dist: str) -> None:
        """Register a module or object holding hookimpls (built-ins, entry points, tests).

        Raises pluggy.PluginValidationError when it implements a hook that does not exist (a typo such as
        ``flowcept_mq_backend``) or with the wrong arguments; the plugin is then not registered.
        """
        self.pm.register(plugin, name=name)
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError:
            self.pm.unregister(name=name)
            raise
        self._dist_of[name] = dist
        self._cache = {}

    def _load_entry_points(self) -> None:
        from flowcept_core.entrypoints import entry_points  # not importlib.metadata: ~30 ms of imports

        eps = sorted(entry_points(PROJECT_NAME), key=lambda ep: ep.name)
        for ep in eps:
            if ep.name in self.disabled:
                continue
            dist = ep.dist.name if ep.dist is not None else ep.value
            try:
                self.register(ep.load(), name=f"ep:{ep.name}", dist=dist)
            except Exception as e:
                self._fail(ep.name, f"{dist}: {type(e).__name__}: {e}", e)

    def _fail(self, name: str, reason: str, error: Exception) -> None:
        """Record a failure (re-raise it in strict mode) and log it once."""
        if self.strict:
            raise error
        if name in self.failures:
            return
        self.failures[name] = reason
        from flowcept_core.logger import get_logger

        get_logger().warning(f"plugin {name!r} failed to load: {reason}")

    def _record_factory_failure(self, name: str, reason: str) -> None:
        self.failures.setdefault(name, reason)

    def _checked(self, kind: str, spec: Any, dist: str) -> PluginSpec:
        """The spec with its factory wrapped, or a ValueError saying why the plugin's record is wrong."""
        spec_cls = KINDS[kind][2]
        if not isinstance(spec, spec_cls):
            raise ValueError(f"hook {KINDS[kind][0]} returned {spec!r}; expected {spec_cls.__name__} records")
        if not isinstance(spec.name, str) or NAME_RULE.fullmatch(spec.name) is None:
            raise ValueError(f"{kind.replace('_', ' ')} name {spec.name!r} is not allowed (lowercase [a-z0-9_]+)")
        from flowcept_core.plugin_factory import PluginFactory

        factory = PluginFactory(kind, spec.name, spec.factory, spec.requires, spec.extra,
                                self._record_factory_failure)
        return dataclasses.replace(spec, factory=factory)

    def _collect(self, kind: str) -> tuple[dict[str, Provided], dict[str, list[Provided]]]:
        if kind not in KINDS:
            raise ValueError(f"unknown plugin kind {kind!r}; choose one of {sorted(KINDS)}")
        self.ensure_loaded()
        if kind in self._cache:
            return self._cache[kind]
        hook = getattr(self.pm.hook, KINDS[kind][0])
        found: dict[str, Provided] = {}
        conflicts: dict[str, list[Provided]] = {}
        for impl in hook.get_hookimpls():
            dist = self._dist_of.get(impl.plugin_name, impl.plugin_name)
            plugin = impl.plugin_name.removeprefix("ep:")
            try:
                specs = [self._checked(kind, s, dist) for s in impl.function() or ()]
            except Exception as e:
                self._fail(plugin, f"{dist}: {type(e).__name__}: {e}", e)
                continue
            for spec in specs:
                if spec.name in self.disabled:
                    continue
                item = Provided(kind, spec.name, spec, dist)
                if spec.name in found and found[spec.name].dist != dist:
                    conflicts.setdefault(spec.name, [found[spec.name]]).append(item)
                else:
                    found[spec.name] = item
        self._cache[kind] = (found, conflicts)
        return found, conflicts

    def names(self, kind: Kind) -> list[str]:
        """Names available for a kind, sorted."""
        return sorted(self._collect(kind)[0])

    def provided(self, kind: Kind) -> list[Provided]:
        """Every name of a kind with its spec and distribution, sorted by name."""
        found, _ = self._collect(kind)
        return [found[n] for n in sorted(found)]

    def conflicts(self, kind: Kind) -> dict[str, list[Provided]]:
        """Names two distributions provide: name -> the providers."""
        return dict(self._collect(kind)[1])

    @overload
    def resolve(self, kind: Literal["mq_backend"], name: str) -> MQBackendSpec: ...
    @overload
    def resolve(self, kind: Literal["interceptor"], name: str) -> InterceptorSpec: ...
    @overload
    def resolve(self, kind: Literal["store"], name: str) -> StoreSpec: ...
    @overload
    def resolve(self, kind: Literal["consumer"], name: str) -> ConsumerSpec: ...

    def resolve(self, kind: str, name: str) -> PluginSpec:
        """The spec for name, or a specific error naming what is available, what failed and what to install.

        A lazy registry answers a built-in name (the in-process MQ, instrumentation) without loading the entry
        points: Flowcept.start() does not wait for plugin discovery."""
        if self._pending:
            spec = self._builtin_spec(kind, name)
            if spec is not None:
                return spec
        found, conflicts = self._collect(kind)
        if name in conflicts:
            dists = " and ".join(repr(p.dist) for p in conflicts[name])
            raise DuplicatePluginError(f"{kind.replace('_', ' ')} name {name!r} is provided by both {dists}; "
                                       f"uninstall one, or add the unwanted entry point to plugins.disabled")
        if name in found:
            return found[name].spec
        where = KINDS[kind][1]
        available = ", ".join(sorted(found)) or "none"
        parts = [f"unknown {kind.replace('_', ' ')} {name!r} ({where}); available: {available}"]
        if self.failures:
            failed = "; ".join(f"{n} ({why})" for n, why in sorted(self.failures.items()))
            parts.append(f"failed to load: {failed}")
        if name in self.failures:
            raise PluginLoadError(". ".join(parts))
        if name in self.disabled:
            parts.append(f"{name!r} is listed in plugins.disabled")
        from flowcept_core.plugin_factory import install_hint

        parts.append(f"if it is a plugin, install it: {install_hint(None, name)}")
        raise UnknownPluginError(". ".join(parts))

    def report(self) -> str:
        """Human-readable listing of every kind, name and provider, conflicts and failures (``flowcept plugins``)."""
        lines = []
        for kind in KINDS:
            lines.append(f"{kind}:")
            for p in self.provided(kind):
                summary = f" - {p.spec.summary}" if p.spec.summary else ""
                lines.append(f"  {p.name:<16} {p.dist}{summary}")
                missing = _missing_modules(p.spec.requires)
                if missing:
                    from flowcept_core.plugin_factory import install_hint

                    lines.append(f"  {'':<16} not usable: needs {', '.join(missing)}; "
                                 f"install: {install_hint(p.spec.extra, p.name)}")
            for name, items in self.conflicts(kind).items():
                lines.append(f"  {name:<16} CONFLICT: {' vs '.join(i.dist for i in items)}")
        if self.failures:
            lines.append("failed:")
            for name, why in sorted(self.failures.items()):
                lines.append(f"  {name:<16} {why}")
        if self.disabled:
            lines.append(f"disabled: {', '.join(sorted(self.disabled))}")
        return "\n".join(lines)


def _missing_modules(modules: Iterable[str]) -> list[str]:
    """The modules that cannot be found, looked up without importing them (listing stays cheap)."""
    from importlib.util import find_spec

    missing = []
    for module in modules:
        try:
            if find_spec(module.partition(".")[0]) is None:
                missing.append(module)
        except (ImportError, ValueError):
            missing.append(module)
    return missing


def get_registry() -> PluginRegistry:
    """The process-wide registry, built on first use from the current settings."""
    registry = RUNTIME.registry
    if registry is None:
        from flowcept_core.settings import get_settings

        plugins = get_settings().section("plugins")
        autoload = None if plugins.get("autoload", True) else False
        registry = RUNTIME.registry = PluginRegistry(disabled=plugins.get("disabled") or (), autoload=autoload,
                                                     lazy=True)
    return registry


def reset_registry() -> None:
    """Forget the registry (tests, or after installing a plugin at run time)."""
    RUNTIME.registry = None
