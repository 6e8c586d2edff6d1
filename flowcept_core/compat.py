"""Compatibility aliases: upstream names that user code, examples and test suites import, served from this engine.

``flowcept.configs`` constants (read from the current settings on each access), ``FlowceptLogger``, the polling
helpers of ``flowcept.commons.utils`` (DocumentInserter with upstream's constructor is in compat_inserter). Nothing
here is used by the engine itself; the ``flowcept.*`` modules of the same upstream names re-export it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from time import monotonic, sleep
from typing import Any

__all__ = ["CONFIG_KEYS", "config_value", "config_names", "FlowceptLogger", "assert_by_querying_tasks_until",
           "evaluate_until", "get_utc_now", "get_utc_now_str", "get_current_config_values"]

PROJECT_NAME = "flowcept"

# upstream constant -> the dotted settings key it reads
CONFIG_KEYS: dict[str, str] = {
    "LOG_FILE_PATH": "log.log_path", "LOG_FILE_LEVEL": "log.log_file_level",
    "LOG_STREAM_LEVEL": "log.log_stream_level", "FLOWCEPT_USER": "experiment.user",
    "MQ_SETTINGS": "mq", "MQ_INSTANCES": "mq.instances", "MQ_ENABLED": "mq.enabled", "MQ_TYPE": "mq.type",
    "MQ_CHANNEL": "mq.channel", "MQ_PASSWORD": "mq.password", "MQ_HOST": "mq.host", "MQ_PORT": "mq.port",
    "MQ_URI": "mq.uri", "MQ_GROUP_ID": "mq.group_id", "MQ_USERNAME": "mq.username", "MQ_VHOST": "mq.vhost",
    "MQ_BUFFER_SIZE": "mq.buffer_size", "MQ_INSERTION_BUFFER_TIME": "mq.insertion_buffer_time_secs",
    "MQ_TIMING": "mq.timing", "MQ_CHUNK_SIZE": "mq.chunk_size",
    "KVDB_PASSWORD": "kv_db.password", "KVDB_HOST": "kv_db.host", "KVDB_PORT": "kv_db.port", "KVDB_URI": "kv_db.uri",
    "KVDB_ENABLED": "kv_db.enabled", "DATABASES": "databases", "MONGO_ENABLED": "databases.mongodb.enabled",
    "MONGO_URI": "databases.mongodb.uri", "MONGO_HOST": "databases.mongodb.host",
    "MONGO_PORT": "databases.mongodb.port", "MONGO_DB": "databases.mongodb.db",
    "MONGO_CREATE_INDEX": "databases.mongodb.create_collection_index", "LMDB_SETTINGS": "databases.lmdb",
    "LMDB_ENABLED": "databases.lmdb.enabled", "INSERTION_BUFFER_TIME": "db_buffer.insertion_buffer_time_secs",
    "DB_BUFFER_SIZE": "db_buffer.buffer_size", "REMOVE_EMPTY_FIELDS": "db_buffer.remove_empty_fields",
    "DB_INSERTER_MAX_TRIALS_STOP": "db_buffer.stop_max_trials",
    "DB_INSERTER_SLEEP_TRIALS_STOP": "db_buffer.stop_trials_sleep", "DB_FLUSH_MODE": "project.db_flush_mode",
    "PERF_LOG": "project.performance_logging", "JSON_SERIALIZER": "project.json_serializer",
    "REPLACE_NON_JSON_SERIALIZABLE": "project.replace_non_json_serializable",
    "ENRICH_MESSAGES": "project.enrich_messages", "DUMP_BUFFER_ENABLED": "project.dump_buffer.enabled",
    "DUMP_BUFFER_PATH": "project.dump_buffer.path",
    "APPEND_WORKFLOW_ID_TO_PATH": "project.dump_buffer.append_workflow_id_to_path",
    "APPEND_ID_TO_PATH": "project.dump_buffer.append_id_to_path",
    "DELETE_BUFFER_FILE": "project.dump_buffer.delete_previous_file", "TELEMETRY_CAPTURE": "telemetry_capture",
    "ENVIRONMENT_ID": "sys_metadata.environment_id", "EXTRA_METADATA": "extra_metadata",
    "WEBSERVER_HOST": "web_server.host", "WEBSERVER_PORT": "web_server.port", "INSTRUMENTATION": "instrumentation",
    "INSTRUMENTATION_ENABLED": "instrumentation.enabled", "AGENT": "agent", "ADAPTERS": "adapters",
    "AGENT_API_KEY": "agent.api_key", "AGENT_MODE": "agent.agent_mode", "AGENT_HOST": "agent.mcp_host",
    "AGENT_PORT": "agent.mcp_port",
}
_COMPUTED = ("PROJECT_NAME", "SETTINGS_PATH", "settings", "DBS_ENABLED", "TELEMETRY_ENABLED", "LOGIN_NAME",
             "NODE_NAME", "SYS_NAME", "HOSTNAME")


def config_names() -> list[str]:
    """Every constant ``flowcept.configs`` answers."""
    return sorted([*CONFIG_KEYS, *_COMPUTED])


def config_value(name: str) -> Any:
    """Called by ``flowcept.configs.<name>``: the value upstream's constant of that name holds, from the current
    settings. Raises AttributeError for a name upstream does not define (or that has no meaning here)."""
    from flowcept_core.settings import get_settings

    s = get_settings()
    if name in CONFIG_KEYS:
        value = s.get(CONFIG_KEYS[name])
        if name == "ADAPTERS":
            return set(value or {})
        return value
    if name == "PROJECT_NAME":
        return PROJECT_NAME
    if name == "SETTINGS_PATH":
        return s.source
    if name == "settings":
        return s.as_dict()
    if name == "DBS_ENABLED":
        return any((sec or {}).get("enabled") for sec in s.section("databases").values() if isinstance(sec, dict))
    if name == "TELEMETRY_ENABLED":
        return any(v for k, v in s.section("telemetry_capture").items() if k not in ("machine_info", "interval_secs"))
    if name == "SYS_NAME":
        import os

        return os.uname()[0]
    if name in ("LOGIN_NAME", "NODE_NAME", "HOSTNAME"):
        from flowcept_core.sysinfo import host_fields

        return host_fields()[{"LOGIN_NAME": "login_name", "NODE_NAME": "node_name"}.get(name, "hostname")]
    raise AttributeError(f"module 'flowcept.configs' has no attribute {name!r}; the upstream constants it "
                         f"provides: {', '.join(config_names())}")


class FlowceptLogger:
    """``FlowceptLogger()`` returns the "flowcept" logging.Logger, configured from the ``log`` settings section."""

    def __new__(cls, *args: Any, **kwargs: Any) -> logging.Logger:  # type: ignore[misc]
        from flowcept_core.logger import configure_logging, get_logger
        from flowcept_core.settings import get_settings

        configure_logging(get_settings().section("log"))
        return get_logger()


def evaluate_until(evaluation_condition: Callable[[], Any], max_trials: int = 30, max_time: float = 60,
                   msg: str = "", interval: float = 0.05) -> bool:
    """Poll evaluation_condition() until it is truthy: True then, False after max_trials seconds' worth of
    one-second trials or max_time, whichever is first. Polls every ``interval`` seconds (more often than upstream's
    one trial a second, within the same time budget)."""
    deadline = monotonic() + min(max_time, max_trials)
    while True:
        if evaluation_condition():
            return True
        if monotonic() >= deadline:
            logging.getLogger(PROJECT_NAME).debug(f"condition not met in time. {msg}")
            return False
        sleep(interval)


def assert_by_querying_tasks_until(filter: dict, condition_to_evaluate: Callable[[list], Any] | None = None,
                                   max_trials: int = 10, max_time: float = 60) -> bool:
    """Query Flowcept.db's tasks with filter until some match (or condition_to_evaluate(docs) is truthy); True
    then, False when the time budget (as in evaluate_until) runs out. A condition that raises counts as not met."""
    from flowcept_core.controller import Flowcept

    def met() -> bool:
        docs = Flowcept.db.query(filter=filter, collection="tasks")
        if condition_to_evaluate is None:
            return bool(docs)
        try:
            return bool(condition_to_evaluate(docs))
        except Exception:
            return False

    return evaluate_until(met, max_trials, max_time, f"tasks matching {filter!r}")


def get_utc_now() -> float:
    """Seconds since the epoch (UTC), as task timestamps are stored."""
    from time import time

    return time()


def get_utc_now_str() -> str:
    """The current UTC time in ISO 8601."""
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat()


def get_current_config_values() -> dict[str, Any]:
    """{constant: value} for every flowcept.configs constant."""
    return {name: config_value(name) for name in config_names()}
