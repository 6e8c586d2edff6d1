"""Compatibility module: upstream's ``flowcept.configs`` constants, computed from the current settings on access.

``settings`` is the merged settings dict; ``SETTINGS_PATH`` the file it came from (None for built-in defaults).
"""

from typing import Any

_CONSTANTS = {
    "MQ_TYPE": "mq.type",
    "MQ_HOST": "mq.host",
    "MQ_PORT": "mq.port",
    "MQ_CHANNEL": "mq.channel",
    "MQ_ENABLED": "mq.enabled",
    "MQ_BUFFER_SIZE": "mq.buffer_size",
    "MQ_INSERTION_BUFFER_TIME": "mq.insertion_buffer_time_secs",
    "KVDB_ENABLED": "kv_db.enabled",
    "MONGO_ENABLED": "databases.mongodb.enabled",
    "LMDB_ENABLED": "databases.lmdb.enabled",
    "DB_FLUSH_MODE": "project.db_flush_mode",
    "DUMP_BUFFER_PATH": "project.dump_buffer.path",
    "DUMP_BUFFER_ENABLED": "project.dump_buffer.enabled",
    "INSTRUMENTATION_ENABLED": "instrumentation.enabled",
    "ENRICH_MESSAGES": "project.enrich_messages",
    "REPLACE_NON_JSON_SERIALIZABLE": "project.replace_non_json_serializable",
}


def __getattr__(name: str) -> Any:
    from flowcept_core.settings import get_settings

    s = get_settings()
    if name == "settings":
        return s.as_dict()
    if name == "SETTINGS_PATH":
        return s.source
    if name in _CONSTANTS:
        return s.get(_CONSTANTS[name])
    raise AttributeError(f"module 'flowcept.configs' has no attribute {name!r}")
