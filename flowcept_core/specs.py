"""Spec records that plugin hooks return, and the settings sections plugins declare.

A spec is a frozen record a hook yields: the name users type, the factory named lazily as ``"module:attr"`` (or a
callable), the modules the factory needs, the install extra, the plugin's settings section and a one-line summary.
Nothing here imports a plugin's library; the registry does that through ``PluginFactory`` when a name is chosen.

Example::

    MQBackendSpec(name="redis", factory="flowcept_redis.backend:RedisMQ", requires=("redis",), extra="redis",
                  settings=SettingsSection("mq", {"redelivery_secs": Key((int, float), 30, minimum=0)}),
                  summary="Redis Streams")
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PluginSpec", "MQBackendSpec", "InterceptorSpec", "StoreSpec", "ConsumerSpec", "CliCommandSpec", "Key",
           "SettingsSection", "NAME_RULE", "check_name"]

NAME_RULE = re.compile(r"[a-z0-9_]+")


def check_name(name: Any) -> str:
    """Return name when it follows the one naming rule (lowercase ``[a-z0-9_]+``); raise ValueError naming it."""
    if not isinstance(name, str) or NAME_RULE.fullmatch(name) is None:
        raise ValueError(f"plugin name {name!r} is not allowed: use lowercase letters, digits and '_' "
                         "(e.g. 'redis', 'my_adapter')")
    return name


@dataclass(frozen=True)
class Key:
    """One settings key a plugin reads: allowed types, default, allowed values, smallest value.

    ``types`` may include ``type(None)``; ``bool`` is never accepted where only numbers are.
    """

    types: tuple[type, ...] | type
    default: Any = None
    choices: tuple | None = None
    minimum: float | None = None

    def check(self, dotted: str, value: Any) -> None:
        """Raise SettingsError naming the key, the value and what is allowed; called by SettingsSection.validate."""
        from flowcept_core.settings import SettingsError

        if value is None:
            return  # null means "not set": the default applies
        types = self.types if isinstance(self.types, tuple) else (self.types,)
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            allowed = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise SettingsError(f"settings key {dotted} = {value!r} has type {type(value).__name__}; "
                                f"expected {allowed}")
        if self.choices is not None and value not in self.choices:
            raise SettingsError(f"settings key {dotted} = {value!r} is not allowed; choose one of {list(self.choices)}")
        if self.minimum is not None and isinstance(value, int | float) and value < self.minimum:
            raise SettingsError(f"settings key {dotted} = {value!r} must be at least {self.minimum}")


@dataclass(frozen=True)
class SettingsSection:
    """The settings a plugin owns: ``path`` is a section ("databases.lmdb", "adapters.my_adapter") or "mq" for
    backend keys only that backend reads. ``keys`` maps each key to a Key (or a type, or a tuple of types).

    ``validate(settings)`` is called at Flowcept.start() for the chosen plugins and by ``flowcept settings --check``;
    it returns warnings (unknown keys, with the closest known one) and raises SettingsError on a bad value.
    """

    path: str
    keys: Mapping[str, Any] = field(default_factory=dict)
    closed: bool = True  # unknown keys in the section warn (only when the plugin owns the whole section)
    check: Callable[[dict[str, Any]], None] | None = None  # rules across keys: gets values(), raises SettingsError

    def key(self, name: str) -> Key:
        k = self.keys[name]
        return k if isinstance(k, Key) else Key(k)

    def defaults(self) -> dict[str, Any]:
        """Each key's default (what the plugin reads when the user leaves the key out)."""
        return {name: self.key(name).default for name in self.keys}

    def values(self, settings: Any) -> dict[str, Any]:
        """The section as the plugin sees it: defaults, overlaid with what the settings give (null keeps default)."""
        given = settings.section(self.path) if settings is not None else {}
        out = self.defaults()
        out.update({k: v for k, v in given.items() if v is not None or k not in out})
        return out

    def validate(self, settings: Any, core_keys: Any = ()) -> list[str]:
        """Check every declared key present in settings; warn about unknown keys (core_keys are known too)."""
        given = settings.section(self.path)
        for name in self.keys:
            if name in given:
                self.key(name).check(f"{self.path}.{name}", given[name])
        if self.check is not None:
            self.check(self.values(settings))
        if not self.closed:
            return []
        known = [*self.keys, *core_keys]
        warnings = []
        for name in given:
            if name not in known:
                import difflib  # only for a misspelt key

                near = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {self.path}.{near[0]}?" if near else ""
                warnings.append(f"unknown settings key {self.path}.{name} is ignored{hint}")
        return warnings


def _as_section(value: Any, default_path: str) -> SettingsSection | None:
    if value is None or isinstance(value, SettingsSection):
        return value
    if isinstance(value, Mapping):  # a plain {key: type} mapping (the 0.x form)
        return SettingsSection(default_path, dict(value), closed=False)
    raise TypeError(f"settings={value!r} must be a SettingsSection, a mapping of key -> type, or None")


@dataclass(frozen=True)
class PluginSpec:
    """Fields every spec has. ``factory``: ``"module:attr"`` (imported only when the name is chosen) or a callable.
    After the registry hands a spec out, ``spec.factory`` is always callable (a PluginFactory for string targets).
    """

    name: str
    factory: str | Callable[..., Any]
    settings: SettingsSection | Mapping[str, Any] | None = None
    summary: str = ""
    requires: tuple[str, ...] = ()
    extra: str | None = None

    kind = ""  # the registry kind, set by each subclass
    section_path = ""  # where settings given as a plain mapping live

    def __post_init__(self) -> None:
        check_name(self.name)
        if isinstance(self.factory, str) and ":" not in self.factory:
            raise ValueError(f"{type(self).__name__} {self.name!r}: factory={self.factory!r} must be "
                             "'package.module:attribute' or a callable")
        if not isinstance(self.factory, str) and not callable(self.factory):
            raise TypeError(f"{type(self).__name__} {self.name!r}: factory={self.factory!r} is not callable")
        object.__setattr__(self, "requires", tuple(self.requires))
        path = self.section_path.replace("<name>", self.name)
        object.__setattr__(self, "settings", _as_section(self.settings, path))


@dataclass(frozen=True)
class MQBackendSpec(PluginSpec):
    """An MQ backend chosen by ``mq.type``. ``factory(settings, channel=None) -> MQBackend``; settings: the ``mq``
    keys only this backend reads."""

    kind = "mq_backend"
    section_path = "mq"


@dataclass(frozen=True)
class InterceptorSpec(PluginSpec):
    """An interceptor chosen by ``Flowcept(interceptors=[...])`` or ``adapters.<key>.kind``.

    ``factory(settings, **kwargs) -> Interceptor``; ``kwargs`` names the ``Flowcept(...)`` keyword arguments the
    interceptor accepts (any other unknown keyword is a TypeError); settings: ``adapters.<name>``.
    """

    kwargs: tuple[str, ...] = ()

    kind = "interceptor"
    section_path = "adapters.<name>"


@dataclass(frozen=True)
class StoreSpec(PluginSpec):
    """A store enabled by ``databases.<name>.enabled``. ``factory(settings) -> Store``.

    ``read_preference``: stores with a lower number answer queries first when several are enabled (MongoDB 10,
    LMDB 20, others 100).
    """

    read_preference: int = 100

    kind = "store"
    section_path = "databases.<name>"


@dataclass(frozen=True)
class ConsumerSpec(PluginSpec):
    """A consumer named in ``plugins.consumers``, started with the persistence services. ``factory(settings)`` returns
    a started-able BaseConsumer."""

    kind = "consumer"
    section_path = "consumers.<name>"


@dataclass(frozen=True)
class CliCommandSpec(PluginSpec):
    """A ``flowcept <name>`` subcommand a plugin adds. ``factory(argv) -> int`` gets the arguments after the command
    name, parses them itself (``prog="flowcept <name>"``) and returns the exit status. ``summary`` is the line
    ``flowcept --help`` shows."""

    kind = "cli_command"
    section_path = "cli.<name>"
