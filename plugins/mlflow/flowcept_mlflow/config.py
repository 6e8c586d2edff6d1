"""MlflowConfig: the ``adapters.mlflow`` settings as the watcher uses them (paths resolved, name filters built)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from flowcept_mlflow.hooks import IGNORED_KEYS, SETTINGS

__all__ = ["MlflowConfig", "NameFilter", "tracking_db_path"]

_SQLITE_PREFIX = "sqlite:///"


class NameFilter:
    """Which params or metrics are kept: every name (``['*']``, ``'*'``, ``true``), none (``[]``, ``false``), or the
    names listed. ``NameFilter(["loss"]).keeps("loss") -> True``."""

    __slots__ = ("names",)

    def __init__(self, value: Any):
        if value is None or value is True or value == "*":
            self.names: frozenset[str] | None = None
        elif value is False:
            self.names = frozenset()
        elif isinstance(value, str):
            self.names = frozenset([value])
        else:
            names = frozenset(value)
            self.names = None if "*" in names else names

    def keeps(self, name: str) -> bool:
        return self.names is None or name in self.names

    def __repr__(self) -> str:
        return "NameFilter(*)" if self.names is None else f"NameFilter({sorted(self.names)})"


def tracking_db_path(value: str) -> str:
    """The absolute path of the tracking database named by ``file_path``: a path, or MLflow's ``sqlite:///`` URI
    (``sqlite:///mlflow.db`` is relative to the working directory, ``sqlite:////tmp/m.db`` absolute)."""
    if value.startswith(_SQLITE_PREFIX):
        value = value[len(_SQLITE_PREFIX):]
    elif "://" in value:
        from flowcept_core.plugin import SettingsError

        raise SettingsError(f"settings key adapters.mlflow.file_path = {value!r} is not a SQLite tracking "
                            "database; give a file path (mlflow.db) or a sqlite:/// URI")
    return os.path.abspath(os.path.expanduser(value))


def _section(settings: Any, key: str | None) -> dict[str, Any]:
    """The adapters section this interceptor reads: ``adapters.<key>`` when given, else ``adapters.mlflow``, else the
    first ``adapters.<any>`` whose kind is mlflow (upstream's layout allows several keys per kind)."""
    adapters = settings.section("adapters") if settings is not None else {}
    if key is not None:
        return dict(adapters.get(key) or {})
    if isinstance(adapters.get("mlflow"), dict):
        return dict(adapters["mlflow"])
    keys = [k for k, section in adapters.items() if isinstance(section, dict) and section.get("kind") == "mlflow"]
    if len(keys) > 1:
        from flowcept_core.plugin import SettingsError

        raise SettingsError(f"settings sections adapters.{', adapters.'.join(keys)} all have kind: mlflow; choose one "
                            f"by passing MlflowInterceptor(plugin_key={keys[0]!r}) (flowcept_mlflow.interceptor) "
                            "in Flowcept(interceptors=[...])")
    return dict(adapters[keys[0]]) if keys else {}


@dataclass(frozen=True)
class MlflowConfig:
    """What the watcher needs, read once at start."""

    db_path: str
    state_path: str
    params: NameFilter
    metrics: NameFilter
    metric_history: bool
    interval: float
    capture_existing_runs: bool

    @classmethod
    def from_settings(cls, settings: Any, key: str | None = None) -> MlflowConfig:
        """Build from Settings (``adapters.mlflow``, defaults filled in). Keys that no longer apply are logged at
        debug level; a bad value raises SettingsError naming it."""
        from flowcept_core.plugin import get_logger

        given = _section(settings, key)
        values = SETTINGS.defaults()
        values.update({k: v for k, v in given.items() if v is not None})
        for name in SETTINGS.keys:
            if name in given:
                SETTINGS.key(name).check(f"adapters.mlflow.{name}", given[name])
        SETTINGS.check(values)
        ignored = sorted(k for k in given if k in IGNORED_KEYS)
        if ignored:
            get_logger().debug(f"adapters.mlflow keys {ignored} are ignored: what was captured is remembered in "
                               "a state file next to the tracking database, not in Redis")
        db_path = tracking_db_path(values["file_path"])
        state = values["state_path"]
        return cls(
            db_path=db_path,
            state_path=os.path.abspath(os.path.expanduser(state)) if state else db_path + ".flowcept-state.json",
            params=NameFilter(values["log_params"]),
            metrics=NameFilter(values["log_metrics"]),
            metric_history=bool(values["metric_history"]),
            interval=float(values["watch_interval_sec"]),
            capture_existing_runs=bool(values["capture_existing_runs"]),
        )
