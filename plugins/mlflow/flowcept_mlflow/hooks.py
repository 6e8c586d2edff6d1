"""Hooks of flowcept-mlflow (entry point ``mlflow``): the spec and the settings section only.

Importing this module must stay cheap (``flowcept plugins`` imports it): it imports neither mlflow nor sqlite3. The
registry imports the interceptor when a user chooses ``mlflow``.
"""

from __future__ import annotations

from typing import Any

from flowcept_core.plugin import InterceptorSpec, Key, SettingsSection, hookimpl

__all__ = ["flowcept_interceptors", "SETTINGS", "IGNORED_KEYS"]

# Keys upstream's settings carry that no longer apply: what was seen is remembered in a state file, not in Redis.
IGNORED_KEYS = ("redis_host", "redis_port", "redis_password", "redis_db")

_NAMES = (list, str, bool)  # a list of names, "*" (every name), true (every name) or false (none)


def _check_names(values: dict[str, Any]) -> None:
    """Rules across keys (SettingsSection.check): every item of log_params / log_metrics must be a string."""
    from flowcept_core.plugin import SettingsError

    for key in ("log_params", "log_metrics"):
        value = values.get(key)
        if isinstance(value, list):
            bad = [item for item in value if not isinstance(item, str)]
            if bad:
                raise SettingsError(f"settings key adapters.mlflow.{key} = {value!r} holds non-string items {bad!r}; "
                                    "give a list of names, ['*'] for every name, or [] for none")


# adapters.mlflow.* (or adapters.<any key> with kind: mlflow)
SETTINGS = SettingsSection("adapters.mlflow", {
    "file_path": Key(str, "mlflow.db"),  # the SQLite tracking database (a path or a sqlite:/// URI)
    "log_params": Key(_NAMES, ["*"]),
    "log_metrics": Key(_NAMES, ["*"]),
    "metric_history": Key(bool, False),  # generated holds each metric's history instead of its latest value
    "watch_interval_sec": Key((int, float), 0.1, minimum=0.001),  # how often the database's version is read
    "capture_existing_runs": Key(bool, True),  # runs already in the database at the first start are captured too
    "state_path": Key((str, type(None)), None),  # default: <file_path>.flowcept-state.json
    **{key: Key((str, int, type(None)), None) for key in IGNORED_KEYS},
}, check=_check_names)


@hookimpl
def flowcept_interceptors() -> list[InterceptorSpec]:
    """Called once when the registry collects interceptors; returns the ``mlflow`` spec."""
    return [InterceptorSpec(
        "mlflow",
        "flowcept_mlflow.interceptor:MlflowInterceptor",
        SETTINGS,
        "mlflow: each run of an MLflow SQLite tracking database (adapters.mlflow.file_path) becomes a task",
        requires=("sqlite3",),  # the watcher reads the database with sqlite3 only; mlflow may run in another process
        extra="mlflow",
    )]
