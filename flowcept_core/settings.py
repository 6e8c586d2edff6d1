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
from typing import Any

__all__ = ["Settings", "SettingsError", "DEFAULTS", "ENV_OVERRIDES", "get_settings", "reset_settings", "load_settings"]


class SettingsError(ValueError):
    """A settings value has the wrong type, an unknown value, or contradicts another setting."""


DEFAULTS: dict[str, Any] = {
    "flowcept_version": None,
    "project": {
        "debug": False,
        "json_serializer": "default",
        "replace_non_json_serializable": True,
        "performance_logging": False,
        "enrich_messages": True,
        "db_flush_mode": "online",
        "max_value_depth": 32,
        "max_value_items": 10_000,
        "max_value_bytes": 1_048_576,
        "dump_buffer": {
            "enabled": True,
            "path": "flowcept_buffer.jsonl",
            "append_id_to_path": False,
            "append_workflow_id_to_path": False,
            "delete_previous_file": True,
        },
    },
    "log": {"log_path": "default", "log_file_level": "disable", "log_stream_level": "error"},
    "telemetry_capture": {
        "gpu": None,
        "cpu": True,
        "per_cpu": False,
        "process_info": False,  # off by default: a process's command line can hold secrets
        "mem": True,
        "disk": False,
        "network": False,
        "machine_info": True,
        "interval_secs": 1.0,
    },
    "instrumentation": {"enabled": True, "torch": {}},
    "experiment": {"user": None},
    "mq": {
        "enabled": True,
        "type": "memory",
        "host": "localhost",
        "port": 6379,
        "uri": None,
        "password": None,
        "username": None,
        "vhost": None,
        "channel": "interception",
        "group_id": None,
        "buffer_size": 50,
        "insertion_buffer_time_secs": 5,
        "timing": False,
        "chunk_size": -1,
        "same_as_kvdb": False,
        "stop_timeout_secs": 30,
        "spill_dir": None,  # None: ~/.flowcept/spill
        "spill_max_bytes": 1 << 30,
        "redelivery_secs": 30,
    },
    "kv_db": {"enabled": False, "host": "localhost", "port": 6379, "uri": None, "password": None},
    "web_server": {"host": "0.0.0.0", "port": 5000},
    "sys_metadata": {"environment_id": None},
    "extra_metadata": {},
    "analytics": {},
    "agent": {},
    "db_buffer": {
        "insertion_buffer_time_secs": 5,
        "buffer_size": 50,
        "remove_empty_fields": False,
        "stop_max_trials": 240,
        "stop_trials_sleep": 0.01,
    },
    "databases": {
        "lmdb": {"enabled": False, "path": "flowcept_lmdb"},
        "mongodb": {"enabled": False, "host": "localhost", "port": 27017, "uri": None, "db": "flowcept",
                    "create_collection_index": True},
    },
    "adapters": {},
    "plugins": {"disabled": [], "autoload": True},
}

# Environment variable -> (dotted key, type). Same names as upstream where upstream has one.
ENV_OVERRIDES: dict[str, tuple[str, type]] = {
    "MQ_TYPE": ("mq.type", str),
    "MQ_HOST": ("mq.host", str),
    "MQ_PORT": ("mq.port", int),
    "MQ_URI": ("mq.uri", str),
    "MQ_PASSWORD": ("mq.password", str),
    "MQ_USERNAME": ("mq.username", str),
    "MQ_CHANNEL": ("mq.channel", str),
    "MQ_ENABLED": ("mq.enabled", bool),
    "MQ_BUFFER_SIZE": ("mq.buffer_size", int),
    "MQ_INSERTION_BUFFER_TIME": ("mq.insertion_buffer_time_secs", float),
    "KVDB_HOST": ("kv_db.host", str),
    "KVDB_PORT": ("kv_db.port", int),
    "KVDB_URI": ("kv_db.uri", str),
    "KVDB_PASSWORD": ("kv_db.password", str),
    "KVDB_ENABLED": ("kv_db.enabled", bool),
    "MONGO_HOST": ("databases.mongodb.host", str),
    "MONGO_PORT": ("databases.mongodb.port", int),
    "MONGO_URI": ("databases.mongodb.uri", str),
    "MONGO_ENABLED": ("databases.mongodb.enabled", bool),
    "MONGO_DB": ("databases.mongodb.db", str),
    "LMDB_ENABLED": ("databases.lmdb.enabled", bool),
    "LMDB_PATH": ("databases.lmdb.path", str),
    "DB_FLUSH_MODE": ("project.db_flush_mode", str),
    "DUMP_BUFFER_PATH": ("project.dump_buffer.path", str),
    "INSTRUMENTATION_ENABLED": ("instrumentation.enabled", bool),
    "FLOWCEPT_ENVIRONMENT_ID": ("sys_metadata.environment_id", str),
}

_NUM = (int, float)
# dotted key -> (allowed types, allowed values or None). None in types means the key may be null.
_RULES: dict[str, tuple[tuple, tuple | None]] = {
    "project.db_flush_mode": ((str,), ("online", "offline")),
    "project.debug": ((bool,), None),
    "project.replace_non_json_serializable": ((bool,), None),
    "project.enrich_messages": ((bool,), None),
    "project.performance_logging": ((bool,), None),
    "project.json_serializer": ((str,), ("default", "complex")),
    "project.max_value_depth": ((int,), None),
    "project.max_value_items": ((int,), None),
    "project.max_value_bytes": ((int,), None),
    "project.dump_buffer.enabled": ((bool,), None),
    "project.dump_buffer.path": ((str, type(None)), None),
    "project.dump_buffer.append_id_to_path": ((bool,), None),
    "project.dump_buffer.append_workflow_id_to_path": ((bool,), None),
    "project.dump_buffer.delete_previous_file": ((bool,), None),
    "instrumentation.enabled": ((bool,), None),
    "mq.enabled": ((bool,), None),
    "mq.type": ((str,), None),
    "mq.host": ((str,), None),
    "mq.port": ((int,), None),
    "mq.channel": ((str,), None),
    "mq.buffer_size": ((int,), None),
    "mq.insertion_buffer_time_secs": (_NUM, None),
    "mq.stop_timeout_secs": (_NUM, None),
    "mq.chunk_size": ((int,), None),
    "mq.spill_dir": ((str, type(None)), None),
    "mq.spill_max_bytes": ((int,), None),
    "kv_db.enabled": ((bool,), None),
    "kv_db.port": ((int,), None),
    "db_buffer.buffer_size": ((int,), None),
    "db_buffer.insertion_buffer_time_secs": (_NUM, None),
    "db_buffer.remove_empty_fields": ((bool,), None),
    "db_buffer.stop_max_trials": ((int,), None),
    "db_buffer.stop_trials_sleep": (_NUM, None),
    "databases.lmdb.enabled": ((bool,), None),
    "databases.lmdb.path": ((str, type(None)), None),
    "databases.mongodb.enabled": ((bool,), None),
    "databases.mongodb.port": ((int,), None),
    "plugins.disabled": ((list,), None),
    "plugins.autoload": ((bool,), None),
    "log.log_file_level": ((str,), ("disable", "debug", "info", "warning", "error", "critical")),
    "log.log_stream_level": ((str,), ("disable", "debug", "info", "warning", "error", "critical")),
}
_POSITIVE = ("mq.buffer_size", "db_buffer.buffer_size", "project.max_value_depth", "project.max_value_items",
             "project.max_value_bytes")
_NON_NEGATIVE = ("mq.insertion_buffer_time_secs", "db_buffer.insertion_buffer_time_secs", "mq.stop_timeout_secs")
# Sections whose keys we know completely: an unknown key there is most likely a typo, so we warn.
_CLOSED_SECTIONS = ("project", "project.dump_buffer", "mq", "db_buffer", "databases.lmdb", "databases.mongodb",
                    "plugins", "kv_db")


class Settings:
    """Resolved settings: the merged tree plus where it came from.

    ``get("a.b.c", default)`` reads a dotted key; ``section("mq")`` returns that sub-dict; ``as_dict()`` a deep copy.
    ``source`` is the file the values came from, or ``None`` for built-in defaults.
    """

    __slots__ = ("_tree", "source", "warnings")

    def __init__(self, tree: Mapping[str, Any], source: str | None = None, warnings: list[str] | None = None):
        self._tree = dict(tree)
        self.source = source
        self.warnings = warnings or []

    def get(self, dotted: str, default: Any = None) -> Any:
        node: Any = self._tree
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return default
            node = node[part]
        return node

    def section(self, name: str) -> dict:
        value = self.get(name, {})
        return value if isinstance(value, dict) else {}

    def as_dict(self) -> dict:
        return copy.deepcopy(self._tree)

    def redacted(self) -> dict:
        """A copy safe to store in provenance: passwords, tokens and URIs with credentials are masked."""
        return _redact(self._tree)

    def __repr__(self) -> str:
        return f"Settings(source={self.source!r})"


def _redact(node: Any) -> Any:
    if isinstance(node, Mapping):
        out = {}
        for k, v in node.items():
            lk = str(k).lower()
            if any(s in lk for s in ("password", "secret", "token", "api_key")) and v is not None:
                out[k] = "***"
            elif lk.endswith("uri") and isinstance(v, str) and "@" in v:
                out[k] = "***"
            else:
                out[k] = _redact(v)
        return out
    if isinstance(node, list):
        return [_redact(v) for v in node]
    return node


# Sections a settings file replaces whole instead of merging into the defaults: in telemetry_capture a key the user
# leaves out means "off" (so ``telemetry_capture: {}`` turns telemetry off), as upstream reads it.
_REPLACED_SECTIONS = ("telemetry_capture",)


def _merge(base: dict, over: Mapping, top: bool = False) -> dict:
    out = dict(base)
    for k, v in over.items():
        if top and k in _REPLACED_SECTIONS:
            out[k] = dict(v) if isinstance(v, Mapping) else v
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


def validate(tree: Mapping[str, Any]) -> list[str]:
    """Check types, allowed values and contradictions; raise SettingsError on the first problem.

    Returns warnings (unknown keys in fully known sections, with the closest known key).
    """
    s = Settings(tree)
    for key, (types, allowed) in _RULES.items():
        value = s.get(key, _MISSING)
        if value is _MISSING:
            continue
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok:
            raise SettingsError(f"settings key {key} = {value!r} has type {type(value).__name__}; "
                                f"expected {_type_names(types)}")
        if allowed is not None and value not in allowed:
            raise SettingsError(f"settings key {key} = {value!r} is not allowed; choose one of {list(allowed)}")
    for key in _POSITIVE:
        value = s.get(key)
        if value is not None and value < 1:
            raise SettingsError(f"settings key {key} = {value!r} must be at least 1")
    for key in _NON_NEGATIVE:
        value = s.get(key)
        if value is not None and value < 0:
            raise SettingsError(f"settings key {key} = {value!r} must not be negative")
    if s.get("project.dump_buffer.enabled") and not s.get("project.dump_buffer.path"):
        raise SettingsError("settings key project.dump_buffer.enabled is true but project.dump_buffer.path is "
                            f"{s.get('project.dump_buffer.path')!r}; give a file path or disable dump_buffer")
    if s.get("databases.lmdb.enabled") and not s.get("databases.lmdb.path"):
        raise SettingsError("settings key databases.lmdb.enabled is true but databases.lmdb.path is "
                            f"{s.get('databases.lmdb.path')!r}; give a directory path or disable lmdb")
    if s.get("mq.same_as_kvdb") and not s.get("kv_db.enabled"):
        raise SettingsError("settings key mq.same_as_kvdb is true but kv_db.enabled is false; "
                            "enable kv_db or set mq.same_as_kvdb: false")
    return _unknown_key_warnings(tree)


_MISSING = object()


def _unknown_key_warnings(tree: Mapping[str, Any]) -> list[str]:
    import difflib

    warnings = []
    defaults = Settings(DEFAULTS)
    user = Settings(tree)
    for section in _CLOSED_SECTIONS:
        known = defaults.section(section)
        given = user.section(section)
        for k in given:
            if k not in known:
                near = difflib.get_close_matches(k, list(known), n=1)
                hint = f"; did you mean {section}.{near[0]}?" if near else ""
                warnings.append(f"unknown settings key {section}.{k} is ignored{hint}")
    return warnings


def _read_yaml(path: str) -> dict:
    import yaml  # imported here: only needed when a settings file exists

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
    """Return the settings file to read: FLOWCEPT_SETTINGS_PATH, else ~/.flowcept/settings.yaml, else None."""
    env = os.environ if env is None else env
    explicit = env.get("FLOWCEPT_SETTINGS_PATH")
    if explicit:
        if not os.path.isfile(explicit):
            raise SettingsError(f"FLOWCEPT_SETTINGS_PATH={explicit!r} does not name an existing file")
        return explicit
    home = os.path.join(os.path.expanduser("~"), ".flowcept", "settings.yaml")
    return home if os.path.isfile(home) else None


def load_settings(path: str | None = None, env: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build validated Settings from defaults, the settings file, env overrides and explicit dotted overrides."""
    env = os.environ if env is None else env
    source = path if path is not None else locate_settings_file(env)
    tree = copy.deepcopy(DEFAULTS)
    if source:
        tree = _merge(tree, _read_yaml(source), top=True)
    for name, (dotted, typ) in ENV_OVERRIDES.items():
        raw = env.get(name)
        if raw is not None and raw != "":
            _set_dotted(tree, dotted, _parse_env(name, raw, typ))
    for dotted, value in (overrides or {}).items():
        _set_dotted(tree, dotted, value)
    warnings = validate(tree)
    return Settings(tree, source, warnings)


_current: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings, loaded on first call."""
    global _current
    if _current is None:
        _current = load_settings()
        if _current.warnings:
            from flowcept_core.logger import get_logger

            for w in _current.warnings:
                get_logger().warning(w)
    return _current


def reset_settings(settings: Settings | None = None) -> None:
    """Forget the loaded settings (next get_settings() reloads), or install the given Settings object."""
    global _current
    _current = settings
