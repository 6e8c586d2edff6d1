"""Settings: the upstream settings.yaml key tree, located, merged over defaults, overridden by env, validated.

Nothing is read at import. ``get_settings()`` loads once per process (or after ``reset_settings()``) from, in order:
``FLOWCEPT_SETTINGS_PATH``, ``~/.flowcept/settings.yaml``, else the built-in defaults alone.

Example::

    s = get_settings()
    s.get("mq.type")            # "memory" by default
    s.section("project")        # the merged dict of that section
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping

from flowcept_core.runtime import RUNTIME
from flowcept_core.settings_tree import (
    CLOSED_SECTIONS,
    DEFAULTS,
    ENV_OVERRIDES,
    NON_NEGATIVE,
    POSITIVE,
    REPLACED_SECTIONS,
    RULES,
)

TYPE_CHECKING = False  # typing is not imported at run time (see flowcept_core.capture.context)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Settings", "SettingsError", "SettingsWarning", "DEFAULTS", "ENV_OVERRIDES", "get_settings",
           "reset_settings", "load_settings", "warn_settings"]


class SettingsError(ValueError):
    """A settings value has the wrong type, an unknown value, or contradicts another setting."""


class SettingsWarning(UserWarning):
    """A settings problem that does not stop the run (unknown key or section, a settings path that does not exist).

    Issued through :mod:`warnings` when the settings are loaded, so it shows whatever the log level; silence it with
    ``warnings.filterwarnings("ignore", category=SettingsWarning)``.
    """


class Settings:
    """Resolved settings: the merged tree plus where it came from.

    ``get("a.b.c", default)`` reads a dotted key; ``section("mq")`` returns that sub-dict; ``as_dict()`` a deep copy.
    ``source`` is the file the values came from, or ``None`` for built-in defaults. ``missing_path`` is the
    FLOWCEPT_SETTINGS_PATH that named no file (the run then uses the other sources); ``from_env`` maps each dotted
    key an environment variable set to that variable's name.
    """

    __slots__ = ("_tree", "source", "warnings", "explicit", "missing_path", "from_env")

    def __init__(self, tree: Mapping[str, Any], source: str | None = None, warnings: list[str] | None = None,
                 explicit: set[str] | None = None, missing_path: str | None = None,
                 from_env: dict[str, str] | None = None):
        self._tree = dict(tree)
        self.source = source
        self.warnings = warnings or []
        self.explicit = explicit if explicit is not None else set()  # dotted keys the user set (file, env, code)
        self.missing_path = missing_path
        self.from_env = from_env or {}

    def is_explicit(self, dotted: str) -> bool:
        """True when the user set this key (or a section above it); False when it is a built-in default."""
        parts = dotted.split(".")
        return any(".".join(parts[:i]) in self.explicit for i in range(1, len(parts) + 1))

    def get(self, dotted: str, default: Any = None) -> Any:
        """The value at a dotted key; default when the key is missing or null (null means "not set")."""
        node: Any = self._tree
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return default
            node = node[part]
        return default if node is None else node

    def section(self, name: str) -> dict:
        value = self.get(name, {})
        return value if isinstance(value, dict) else {}

    def as_dict(self) -> dict:
        return copy.deepcopy(self._tree)

    def redacted(self) -> dict:
        """A copy safe to store in provenance or print: values under secret-looking keys (the built-in words plus
        ``project.secret_keys``) and URL passwords are ``***``. Called for the workflow message's
        ``flowcept_settings`` and by ``flowcept settings``; masks even with ``project.redact_secrets: false``
        (that switch is about captured values; the settings' own credentials are never shown)."""
        from flowcept_core.redact import DEFAULT_REDACTOR, redactor_from_settings

        try:
            redactor = redactor_from_settings({**self.section("project"), "redact_secrets": True})
        except ValueError:
            redactor = DEFAULT_REDACTOR
        return redactor.redact_tree(self._tree)

    def __repr__(self) -> str:
        return f"Settings(source={self.source!r})"


def _merge(base: dict, over: Mapping, top: bool = False) -> dict:
    out = dict(base)
    for k, v in over.items():
        if top and k in REPLACED_SECTIONS:
            out[k] = dict(v) if isinstance(v, Mapping) else {}  # null means "all off"
        elif v is None and isinstance(out.get(k), dict):
            continue  # a section left empty in YAML (only comments) keeps its defaults
        elif isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _set_dotted(tree: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for p in parts[:-1]:
        nxt = node.get(p)
        if not isinstance(nxt, dict):
            nxt = {}
            node[p] = nxt
        node = nxt
    node[parts[-1]] = value


def _parse_env(name: str, raw: str, typ: type) -> Any:
    if typ is bool:
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"environment variable {name}={raw!r} is not a boolean; use true/false/1/0")
    if typ in (int, float):
        try:
            return typ(raw)
        except ValueError:
            raise SettingsError(f"environment variable {name}={raw!r} is not a valid {typ.__name__}") from None
    return raw


def _type_names(types: tuple) -> str:
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


def _is_secret_key(dotted: str) -> bool:
    from flowcept_core.redact import DEFAULT_REDACTOR

    return DEFAULT_REDACTOR.secret_key(dotted.rsplit(".", 1)[-1])


def validate(tree: Mapping[str, Any]) -> list[str]:
    """Check types, allowed values and contradictions; raise SettingsError on the first problem.

    Returns warnings (unknown sections, unknown keys in fully known sections, each with the closest known name).
    """
    s = Settings(tree)
    for key, (types, allowed) in RULES.items():
        value = s.get(key, _MISSING)
        if value is _MISSING:
            continue
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok:
            shown = "***" if _is_secret_key(key) else repr(value)  # a mistyped secret is still a secret
            raise SettingsError(f"settings key {key} = {shown} has type {type(value).__name__}; "
                                f"expected {_type_names(types)}")
        if allowed is not None and value not in allowed:
            raise SettingsError(f"settings key {key} = {value!r} is not allowed; choose one of {list(allowed)}")
    for key in POSITIVE:
        value = s.get(key)
        if value is not None and value < 1:
            raise SettingsError(f"settings key {key} = {value!r} must be at least 1")
    for key in NON_NEGATIVE:
        value = s.get(key)
        if value is not None and value < 0:
            raise SettingsError(f"settings key {key} = {value!r} must not be negative")
    if s.get("project.dump_buffer.enabled") and not s.get("project.dump_buffer.path"):
        raise SettingsError("settings key project.dump_buffer.enabled is true but project.dump_buffer.path is "
                            f"{s.get('project.dump_buffer.path')!r}; give a file path or disable dump_buffer")
    _check_secret_keys(s.get("project.secret_keys"))
    if s.get("mq.same_as_kvdb") and not s.get("kv_db.enabled"):
        raise SettingsError("settings key mq.same_as_kvdb is true but kv_db.enabled is false; "
                            "enable kv_db or set mq.same_as_kvdb: false")
    return _unknown_key_warnings(tree)


_MISSING = object()


def _check_secret_keys(value: Any) -> None:
    from flowcept_core.redact import check_secret_keys

    try:
        check_secret_keys(value)
    except ValueError as e:
        raise SettingsError(str(e)) from None


def _unknown_key_warnings(tree: Mapping[str, Any]) -> list[str]:
    warnings = []
    for k in tree:
        if k not in DEFAULTS:
            import difflib  # only for a misspelt key: importing it costs ~1 ms at every start

            near = difflib.get_close_matches(str(k), list(DEFAULTS), n=1)
            hint = f"; did you mean {near[0]}?" if near else f"; known sections: {', '.join(DEFAULTS)}"
            warnings.append(f"unknown settings section {k} is ignored{hint}")
    defaults = Settings(DEFAULTS)
    user = Settings(tree)
    for section in CLOSED_SECTIONS:
        known = defaults.section(section)
        given = user.section(section)
        if section == "mq" and any(k not in known for k in given):  # keys MQ backend plugins declare count too
            from flowcept_core.plugin_settings import declared_mq_keys

            known = [*known, *declared_mq_keys()]
        for k in given:
            if k not in known:
                import difflib

                near = difflib.get_close_matches(k, list(known), n=1)
                hint = f"; did you mean {section}.{near[0]}?" if near else ""
                warnings.append(f"unknown settings key {section}.{k} is ignored{hint}")
    return warnings


def _read_yaml(path: str) -> dict:
    from flowcept_core.simple_yaml import load as load_simple

    try:
        with open(path, encoding="utf-8") as f:
            data = load_simple(f.read())  # a plain file is read without importing PyYAML (same result)
    except UnicodeDecodeError as e:
        raise SettingsError(f"settings file {path} is not UTF-8 text: byte {e.object[e.start]:#04x} at offset "
                            f"{e.start} ({e.reason})") from None
    if data is not None:
        return data
    import yaml  # imported here: only for files outside simple_yaml's subset

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise SettingsError(f"settings file {path} is not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"settings file {path} must hold a mapping at the top level, not {type(data).__name__}")
    return data


def locate_settings_file(env: Mapping[str, str] | None = None) -> str | None:
    """Return the settings file to read: FLOWCEPT_SETTINGS_PATH, else ~/.flowcept/settings.yaml, else None.

    A FLOWCEPT_SETTINGS_PATH that names no file is passed over (load_settings warns about it): a provenance tool
    must not end a job over a settings path.
    """
    env = os.environ if env is None else env
    explicit = env.get("FLOWCEPT_SETTINGS_PATH")
    if explicit and os.path.isfile(explicit):
        return explicit
    home = os.path.join(os.path.expanduser("~"), ".flowcept", "settings.yaml")
    return home if os.path.isfile(home) else None


def _missing_path_warning(path: str, source: str | None) -> str:
    using = f"the settings in {source}" if source else "the built-in defaults"
    return f"FLOWCEPT_SETTINGS_PATH={path!r} does not name an existing file; running with {using}"


def load_settings(path: str | None = None, env: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build validated Settings from defaults, the settings file, env overrides and explicit dotted overrides."""
    env = os.environ if env is None else env
    source = path if path is not None else locate_settings_file(env)
    missing = None
    if path is None and env.get("FLOWCEPT_SETTINGS_PATH") and source != env.get("FLOWCEPT_SETTINGS_PATH"):
        missing = env["FLOWCEPT_SETTINGS_PATH"]
    tree = copy.deepcopy(DEFAULTS)
    explicit: set[str] = set()
    if source:
        user = _read_yaml(source)
        explicit.update(_leaf_keys(user))
        tree = _merge(tree, user, top=True)
    if tree.get("flowcept_version") is None:  # the settings snapshot in workflow records names the version
        from flowcept_core import __version__

        tree["flowcept_version"] = __version__
    from_env: dict[str, str] = {}
    for name, (dotted, typ) in ENV_OVERRIDES.items():
        raw = env.get(name)
        if raw is not None and raw != "":
            _set_dotted(tree, dotted, _parse_env(name, raw, typ))
            explicit.add(dotted)
            from_env[dotted] = name
    for dotted, value in (overrides or {}).items():
        _set_dotted(tree, dotted, value)
        explicit.add(dotted)
    warnings = validate(tree)
    if missing:
        warnings.insert(0, _missing_path_warning(missing, source))
    return Settings(tree, source, warnings, explicit, missing, from_env)


def _leaf_keys(tree: Mapping[str, Any], prefix: str = "") -> set[str]:
    keys = set()
    for k, v in tree.items():
        dotted = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            keys |= _leaf_keys(v, f"{dotted}.")
        else:
            keys.add(dotted)
    return keys


def get_settings() -> Settings:
    """The process-wide settings, loaded on first call; each of their warnings is issued once per load as a
    SettingsWarning (and logged), so a typo shows in every run that reads the file."""
    current = RUNTIME.settings
    if current is None:
        current = RUNTIME.settings = load_settings()
        if current.warnings:
            import warnings

            from flowcept_core.logger import get_logger

            for w in current.warnings:
                get_logger().warning(w)
                warnings.warn(w, SettingsWarning, stacklevel=2)
    return current


def warn_settings(message: str) -> None:
    """Called where a settings choice will not do what the user likely expects (a default store whose plugin is
    missing, an in-process MQ nothing can reach): issue message once per process as a SettingsWarning (shown
    whatever the log level) and log it."""
    if message in RUNTIME.warned:
        return
    RUNTIME.warned.add(message)
    import warnings

    from flowcept_core.logger import get_logger

    get_logger().warning(message)
    warnings.warn(message, SettingsWarning, stacklevel=3)


def reset_settings(settings: Settings | None = None) -> None:
    """Forget the loaded settings (next get_settings() reloads), or install the given Settings object."""
    RUNTIME.settings = settings
