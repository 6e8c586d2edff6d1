"""The settings key tree: built-in defaults, environment overrides, and the validation rules per key."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time (see flowcept_core.capture.context)
if TYPE_CHECKING:
    from typing import Any


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
        # values under secret-looking keys and URL passwords become "***" before they leave the process;
        # secret_keys adds key words to the built-in list (flowcept_core/redact.py)
        "redact_secrets": True,
        "secret_keys": [],
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
        "port": None,  # None: the backend's own default (6379 redis, 9092 kafka, 5672 rabbitmq)
        "uri": None,
        "password": None,
        "username": None,
        "channel": "interception",
        "group_id": None,
        "buffer_size": 50,
        # a message waits at most this long in the producer before it is published (fewer than buffer_size
        # pending); with db_buffer.insertion_buffer_time_secs it bounds how soon Flowcept.db sees a task
        "insertion_buffer_time_secs": 0.25,
        # bounds between capture and the stores: capture waits for delivery past them (memory stays flat)
        "max_pending_messages": 200_000,  # this process's buffer (~250 B per pending task); bounds a SIGKILL's loss
        "queue_max_messages": 20_000,  # each in-process MQ queue
        "timing": False,
        "chunk_size": -1,
        "same_as_kvdb": False,
        "stop_timeout_secs": 30,
        "spill_dir": None,  # None: ~/.flowcept/spill
        "spill_max_bytes": 1 << 30,
        # set: producers sign each batch (HMAC-SHA256) and consumers drop unsigned or forged ones (docs/wire-format.md)
        "signing_key": None,
        "wire_format": "packed",  # "plain": self-describing message dicts, for readers that are not flowcept
    },
    "kv_db": {"enabled": False, "host": "localhost", "port": 6379, "uri": None, "password": None},
    "web_server": {"host": "0.0.0.0", "port": 5000},
    "sys_metadata": {"environment_id": None},
    "extra_metadata": {},
    "analytics": {},
    "agent": {},
    "db_buffer": {
        "insertion_buffer_time_secs": 0.25,  # a document waits at most this long in the DocumentInserter
        "buffer_size": 50,
        "remove_empty_fields": False,
        "stop_max_trials": 240,
        "stop_trials_sleep": 0.01,
    },
    "databases": {
        # map_size / max_map_size: bytes or "2GiB"; None: the store's defaults (1 GiB growing to 64 GiB)
        # on by default: capture and query work with no server (the flowcept-lmdb plugin; skipped with a warning
        # when it is not installed and the user did not ask for it)
        "lmdb": {"enabled": True, "path": "flowcept_lmdb", "map_size": None, "max_map_size": None,
                 "max_readers": None},
        # native_queries: the server evaluates whole queries and aggregations (true), only what every
        # MongoDB-compatible server evaluates alike, Python finishing (false), or true on real MongoDB only ("auto")
        "mongodb": {"enabled": False, "host": "localhost", "port": 27017, "uri": None, "db": "flowcept",
                    "create_collection_index": True, "native_queries": "auto"},
    },
    "adapters": {},
    "plugins": {"disabled": [], "autoload": True, "consumers": []},
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
    "MQ_SIGNING_KEY": ("mq.signing_key", str),
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
    "LMDB_MAP_SIZE": ("databases.lmdb.map_size", str),
    "DB_FLUSH_MODE": ("project.db_flush_mode", str),
    "DUMP_BUFFER_PATH": ("project.dump_buffer.path", str),
    "INSTRUMENTATION_ENABLED": ("instrumentation.enabled", bool),
    "FLOWCEPT_ENVIRONMENT_ID": ("sys_metadata.environment_id", str),
}

NUM = (int, float)
# dotted key -> (allowed types, allowed values or None). None in types means the key may be null.
RULES: dict[str, tuple[tuple, tuple | None]] = {
    "project.db_flush_mode": ((str,), ("online", "offline")),
    "project.debug": ((bool,), None),
    "project.replace_non_json_serializable": ((bool,), None),
    "project.enrich_messages": ((bool,), None),
    "project.performance_logging": ((bool,), None),
    "project.json_serializer": ((str,), ("default", "complex")),
    "project.max_value_depth": ((int,), None),
    "project.max_value_items": ((int,), None),
    "project.max_value_bytes": ((int,), None),
    "project.redact_secrets": ((bool,), None),
    "project.secret_keys": ((list, type(None)), None),
    "project.dump_buffer.enabled": ((bool,), None),
    "project.dump_buffer.path": ((str, type(None)), None),
    "project.dump_buffer.append_id_to_path": ((bool,), None),
    "project.dump_buffer.append_workflow_id_to_path": ((bool,), None),
    "project.dump_buffer.delete_previous_file": ((bool,), None),
    "instrumentation.enabled": ((bool,), None),
    "mq.enabled": ((bool,), None),
    "mq.type": ((str,), None),
    "mq.host": ((str,), None),
    "mq.port": ((int, type(None)), None),
    "mq.channel": ((str,), None),
    "mq.buffer_size": ((int,), None),
    "mq.insertion_buffer_time_secs": (NUM, None),
    "mq.stop_timeout_secs": (NUM, None),
    "mq.max_pending_messages": ((int,), None),
    "mq.queue_max_messages": ((int,), None),
    "mq.chunk_size": ((int,), None),
    "mq.spill_dir": ((str, type(None)), None),
    "mq.spill_max_bytes": ((int,), None),
    "mq.signing_key": ((str, type(None)), None),
    "mq.wire_format": ((str,), ("packed", "plain")),
    "kv_db.enabled": ((bool,), None),
    "kv_db.port": ((int,), None),
    "db_buffer.buffer_size": ((int,), None),
    "db_buffer.insertion_buffer_time_secs": (NUM, None),
    "db_buffer.remove_empty_fields": ((bool,), None),
    "db_buffer.stop_max_trials": ((int,), None),
    "db_buffer.stop_trials_sleep": (NUM, None),
    "plugins.disabled": ((list,), None),
    "plugins.autoload": ((bool,), None),
    "plugins.consumers": ((list,), None),
    "log.log_file_level": ((str,), ("disable", "debug", "info", "warning", "error", "critical")),
    "log.log_stream_level": ((str,), ("disable", "debug", "info", "warning", "error", "critical")),
}
POSITIVE = ("mq.buffer_size", "db_buffer.buffer_size", "project.max_value_depth", "project.max_value_items",
             "project.max_value_bytes")
NON_NEGATIVE = ("mq.insertion_buffer_time_secs", "db_buffer.insertion_buffer_time_secs", "mq.stop_timeout_secs")
# Sections whose keys we know completely: an unknown key there is most likely a typo, so we warn (in mq, the keys the
# installed MQ backends declare are known too). Plugins' own sections (databases.<name>, adapters.<name>) are checked
# by the plugin's SettingsSection when Flowcept starts (flowcept_core.plugin_settings).
CLOSED_SECTIONS = ("project", "project.dump_buffer", "mq", "db_buffer", "plugins", "kv_db")

# Sections a settings file replaces whole instead of merging into the defaults: in telemetry_capture a key the user
# leaves out means "off" (so ``telemetry_capture: {}`` turns telemetry off), as upstream reads it.
REPLACED_SECTIONS = ("telemetry_capture",)
