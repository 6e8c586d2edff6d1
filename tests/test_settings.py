"""Settings: where they come from, how files merge over defaults, env overrides, validation messages, redaction."""

from __future__ import annotations

import os
import textwrap

import pytest

from flowcept_core.settings import ENV_OVERRIDES, SettingsError, SettingsWarning, get_settings, reset_settings


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A clean environment: HOME is an empty tmp dir, no FLOWCEPT_SETTINGS_PATH, no env overrides."""
    home_dir = tmp_path / "home"
    home_dir.mkdir()
    monkeypatch.setenv("HOME", str(home_dir))
    monkeypatch.delenv("FLOWCEPT_SETTINGS_PATH", raising=False)
    for name in ENV_OVERRIDES:
        monkeypatch.delenv(name, raising=False)
    reset_settings()
    yield home_dir
    reset_settings()


def _write(path, text: str) -> str:
    path = str(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(textwrap.dedent(text))
    return path


def _use_file(monkeypatch, tmp_path, text: str, name: str = "settings.yaml") -> str:
    path = _write(tmp_path / "cfg" / name, text)
    monkeypatch.setenv("FLOWCEPT_SETTINGS_PATH", path)
    return path


def _load():
    reset_settings()
    return get_settings()


# ---------------------------------------------------------------- where settings come from


def test_defaults_used_when_no_settings_file_and_no_env_path(home):
    s = _load()
    assert s.source is None
    assert s.get("mq.type") == "memory"
    assert s.get("project.db_flush_mode") == "online"
    assert s.get("project.dump_buffer.path") == "flowcept_buffer.jsonl"
    assert s.get("databases.mongodb.port") == 27017
    assert s.warnings == []


def test_home_settings_file_is_used_when_no_env_path(home):
    path = _write(home / ".flowcept" / "settings.yaml", "mq:\n  type: redis\n")
    s = _load()
    assert s.source == path
    assert s.get("mq.type") == "redis"


def test_flowcept_settings_path_wins_over_home_file(home, tmp_path, monkeypatch):
    _write(home / ".flowcept" / "settings.yaml", "mq:\n  type: redis\n")
    path = _use_file(monkeypatch, tmp_path, "mq:\n  type: kafka\n")
    s = _load()
    assert s.source == path
    assert s.get("mq.type") == "kafka"


def test_flowcept_settings_path_naming_missing_file_runs_with_defaults_and_warns_naming_the_path(
        home, tmp_path, monkeypatch):
    missing = str(tmp_path / "nowhere" / "missing_settings.yaml")
    monkeypatch.setenv("FLOWCEPT_SETTINGS_PATH", missing)
    with pytest.warns(SettingsWarning) as caught:
        s = _load()
    assert s.source is None and s.get("mq.type") == "memory"
    assert s.missing_path == missing
    (text,) = [str(w.message) for w in caught]
    assert missing in text and "FLOWCEPT_SETTINGS_PATH" in text and "built-in defaults" in text


def test_get_settings_is_cached_until_reset(home, tmp_path, monkeypatch):
    _use_file(monkeypatch, tmp_path, "mq:\n  type: redis\n")
    first = _load()
    assert get_settings() is first
    _use_file(monkeypatch, tmp_path, "mq:\n  type: kafka\n", name="other.yaml")
    assert get_settings().get("mq.type") == "redis"
    assert _load().get("mq.type") == "kafka"


# ---------------------------------------------------------------- merging


def test_file_merges_over_defaults_keeping_unmentioned_nested_keys(home, tmp_path, monkeypatch):
    _use_file(
        monkeypatch,
        tmp_path,
        """
        project:
          dump_buffer:
            path: my_buffer.jsonl
        mq:
          port: 6380
        """,
    )
    s = _load()
    assert s.get("project.dump_buffer.path") == "my_buffer.jsonl"
    assert s.get("project.dump_buffer.enabled") is True  # sibling kept from defaults
    assert s.get("project.dump_buffer.delete_previous_file") is True
    assert s.get("project.db_flush_mode") == "online"  # other project keys kept
    assert s.get("mq.port") == 6380
    assert s.get("mq.type") == "memory"
    assert s.get("mq.channel") == "interception"
    assert s.get("databases.mongodb.db") == "flowcept"  # untouched sections kept whole


def test_empty_settings_file_means_defaults(home, tmp_path, monkeypatch):
    path = _use_file(monkeypatch, tmp_path, "# nothing but a comment\n")
    s = _load()
    assert s.source == path
    assert s.get("mq.type") == "memory"


def test_empty_telemetry_capture_turns_all_telemetry_off(home, tmp_path, monkeypatch):
    _use_file(monkeypatch, tmp_path, "telemetry_capture: {}\n")
    s = _load()
    assert s.section("telemetry_capture") == {}
    for key in ("cpu", "mem", "machine_info", "per_cpu", "disk", "network", "process_info"):
        assert not s.get(f"telemetry_capture.{key}"), key


def test_telemetry_capture_is_replaced_not_merged(home, tmp_path, monkeypatch):
    _use_file(monkeypatch, tmp_path, "telemetry_capture:\n  mem: true\n")
    s = _load()
    assert s.get("telemetry_capture.mem") is True
    assert s.get("telemetry_capture.cpu") is None  # default cpu: true is not merged back in
    assert s.get("telemetry_capture.machine_info") is None


def test_section_left_empty_in_yaml_keeps_its_defaults(home, tmp_path, monkeypatch):
    _use_file(monkeypatch, tmp_path, "mq:\n  # type: redis\n  # port: 6379\n")
    s = _load()
    assert s.get("mq.type") == "memory"
    assert s.get("mq.channel") == "interception"
    assert s.get("mq.port", 6379) == 6379  # unset: each backend's own default port


# ---------------------------------------------------------------- environment overrides


def test_env_mq_type_overrides_file(home, tmp_path, monkeypatch):
    _use_file(monkeypatch, tmp_path, "mq:\n  type: redis\n")
    monkeypatch.setenv("MQ_TYPE", "kafka")
    assert _load().get("mq.type") == "kafka"


def test_env_mq_port_is_parsed_as_int(home, monkeypatch):
    monkeypatch.setenv("MQ_PORT", "6390")
    port = _load().get("mq.port")
    assert port == 6390
    assert type(port) is int


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("1", True), ("False", False), ("0", False)])
def test_env_mongo_enabled_is_parsed_as_bool(home, monkeypatch, raw, expected):
    monkeypatch.setenv("MONGO_ENABLED", raw)
    assert _load().get("databases.mongodb.enabled") is expected


def test_env_bad_mq_port_error_names_the_variable_and_value(home, monkeypatch):
    monkeypatch.setenv("MQ_PORT", "abc")
    with pytest.raises(SettingsError) as exc:
        _load()
    assert "MQ_PORT" in str(exc.value)
    assert "abc" in str(exc.value)


def test_env_bad_boolean_error_names_the_variable(home, monkeypatch):
    monkeypatch.setenv("MONGO_ENABLED", "maybe")
    with pytest.raises(SettingsError, match="MONGO_ENABLED"):
        _load()


def test_empty_env_variable_does_not_override(home, tmp_path, monkeypatch):
    _use_file(monkeypatch, tmp_path, "mq:\n  type: redis\n")
    monkeypatch.setenv("MQ_TYPE", "")
    assert _load().get("mq.type") == "redis"


# ---------------------------------------------------------------- validation


def _error_for(monkeypatch, tmp_path, text: str) -> str:
    _use_file(monkeypatch, tmp_path, text)
    with pytest.raises(SettingsError) as exc:
        _load()
    return str(exc.value)


def test_unknown_db_flush_mode_names_key_value_and_choices(home, tmp_path, monkeypatch):
    msg = _error_for(monkeypatch, tmp_path, "project:\n  db_flush_mode: sideways\n")
    assert "project.db_flush_mode" in msg
    assert "sideways" in msg
    assert "online" in msg and "offline" in msg


def test_string_mq_port_names_key_value_and_expected_type(home, tmp_path, monkeypatch):
    msg = _error_for(monkeypatch, tmp_path, 'mq:\n  port: "6379"\n')
    assert "mq.port" in msg
    assert "'6379'" in msg
    assert "int" in msg


def test_zero_mq_buffer_size_names_key_value_and_lower_bound(home, tmp_path, monkeypatch):
    msg = _error_for(monkeypatch, tmp_path, "mq:\n  buffer_size: 0\n")
    assert "mq.buffer_size" in msg
    assert "0" in msg
    assert "at least 1" in msg


def test_string_instrumentation_enabled_names_key_value_and_expected_bool(home, tmp_path, monkeypatch):
    msg = _error_for(monkeypatch, tmp_path, 'instrumentation:\n  enabled: "yes"\n')
    assert "instrumentation.enabled" in msg
    assert "'yes'" in msg
    assert "bool" in msg


def test_int_where_bool_expected_is_rejected(home, tmp_path, monkeypatch):
    msg = _error_for(monkeypatch, tmp_path, "mq:\n  enabled: 1\n")
    assert "mq.enabled" in msg


def test_bool_where_int_expected_is_rejected(home, tmp_path, monkeypatch):
    msg = _error_for(monkeypatch, tmp_path, "mq:\n  port: true\n")
    assert "mq.port" in msg


def test_dump_buffer_enabled_with_empty_path_is_a_contradiction(home, tmp_path, monkeypatch):
    msg = _error_for(monkeypatch, tmp_path, 'project:\n  dump_buffer:\n    enabled: true\n    path: ""\n')
    assert "project.dump_buffer.enabled" in msg
    assert "project.dump_buffer.path" in msg


def test_dump_buffer_disabled_with_empty_path_is_fine(home, tmp_path, monkeypatch):
    _use_file(monkeypatch, tmp_path, 'project:\n  dump_buffer:\n    enabled: false\n    path: ""\n')
    assert _load().get("project.dump_buffer.enabled") is False


def test_lmdb_enabled_without_path_is_rejected_by_the_plugins_section(home, tmp_path, monkeypatch):
    pytest.importorskip("flowcept_lmdb", reason="the lmdb plugin is not installed")
    from flowcept_core.plugin_settings import check_plugin_settings

    _use_file(monkeypatch, tmp_path, "databases:\n  lmdb:\n    enabled: true\n    path: null\n")
    with pytest.raises(SettingsError) as err:
        check_plugin_settings(_load())
    assert "databases.lmdb.enabled" in str(err.value) and "databases.lmdb.path" in str(err.value)


def test_mq_same_as_kvdb_with_kv_db_disabled_is_rejected(home, tmp_path, monkeypatch):
    msg = _error_for(monkeypatch, tmp_path, "mq:\n  same_as_kvdb: true\nkv_db:\n  enabled: false\n")
    assert "mq.same_as_kvdb" in msg
    assert "kv_db.enabled" in msg


def test_mq_same_as_kvdb_with_kv_db_enabled_is_fine(home, tmp_path, monkeypatch):
    _use_file(monkeypatch, tmp_path, "mq:\n  same_as_kvdb: true\nkv_db:\n  enabled: true\n")
    assert _load().get("mq.same_as_kvdb") is True


def test_invalid_env_value_is_validated_like_a_file_value(home, monkeypatch):
    monkeypatch.setenv("DB_FLUSH_MODE", "sideways")
    with pytest.raises(SettingsError, match="project.db_flush_mode"):
        _load()


def test_invalid_yaml_error_names_the_file(home, tmp_path, monkeypatch):
    path = _use_file(monkeypatch, tmp_path, "mq: [unclosed\n  type: redis\n")
    with pytest.raises(SettingsError) as exc:
        _load()
    assert path in str(exc.value)
    assert "YAML" in str(exc.value)


def test_top_level_list_error_names_the_file(home, tmp_path, monkeypatch):
    path = _use_file(monkeypatch, tmp_path, "- mq\n- project\n")
    with pytest.raises(SettingsError) as exc:
        _load()
    assert path in str(exc.value)
    assert "list" in str(exc.value)


# ---------------------------------------------------------------- unknown keys


def test_unknown_key_in_known_section_warns_with_did_you_mean(home, tmp_path, monkeypatch):
    _use_file(monkeypatch, tmp_path, "mq:\n  buffer_sise: 10\nproject:\n  db_flush_mod: offline\n")
    s = _load()  # does not fail
    joined = "\n".join(s.warnings)
    assert "mq.buffer_sise" in joined
    assert "did you mean mq.buffer_size" in joined
    assert "project.db_flush_mod" in joined
    assert "did you mean project.db_flush_mode" in joined
    assert s.get("mq.buffer_size") == 50  # the typo did not change the real key


def test_unknown_top_level_section_warns_and_is_kept(home, tmp_path, monkeypatch):
    _use_file(monkeypatch, tmp_path, "my_team_section:\n  anything: [1, 2]\ntelemetry_captur:\n  cpu: true\n")
    with pytest.warns(SettingsWarning):
        s = _load()
    assert any("unknown settings section my_team_section" in w for w in s.warnings)
    assert any("telemetry_captur" in w and "did you mean telemetry_capture" in w for w in s.warnings)
    assert s.get("my_team_section.anything") == [1, 2]


# ---------------------------------------------------------------- redaction


def test_redacted_masks_password_and_credentialed_uri_keeps_others(home, tmp_path, monkeypatch):
    _use_file(
        monkeypatch,
        tmp_path,
        """
        mq:
          password: hunter2
          host: mq.example.org
        databases:
          mongodb:
            uri: mongodb://alice:s3cret@db.example.org:27017/flowcept
        kv_db:
          uri: redis://kv.example.org:6379
        """,
    )
    s = _load()
    red = s.redacted()
    assert red["mq"]["password"] != "hunter2"
    assert "hunter2" not in repr(red)
    assert "s3cret" not in repr(red)
    assert red["mq"]["host"] == "mq.example.org"
    assert red["mq"]["channel"] == "interception"
    assert red["kv_db"]["uri"] == "redis://kv.example.org:6379"  # no credentials: kept
    assert red["databases"]["mongodb"]["db"] == "flowcept"
    # the live settings are untouched
    assert s.get("mq.password") == "hunter2"
    assert s.get("databases.mongodb.uri").startswith("mongodb://alice:s3cret@")


# ---------------------------------------------------------------- flowcept.configs


def test_flowcept_configs_exposes_current_settings(home, tmp_path, monkeypatch):
    import flowcept.configs as configs

    path = _use_file(
        monkeypatch,
        tmp_path,
        """
        mq:
          type: redis
        project:
          dump_buffer:
            path: custom_buffer.jsonl
        instrumentation:
          enabled: false
        """,
    )
    reset_settings()
    assert configs.SETTINGS_PATH == path
    assert configs.MQ_TYPE == "redis"
    assert configs.DUMP_BUFFER_PATH == "custom_buffer.jsonl"
    assert configs.INSTRUMENTATION_ENABLED is False
    assert isinstance(configs.settings, dict)
    assert configs.settings["mq"]["type"] == "redis"
    assert configs.settings["mq"]["channel"] == "interception"


def test_flowcept_configs_follows_a_settings_reload(home, tmp_path, monkeypatch):
    import flowcept.configs as configs

    reset_settings()
    assert configs.SETTINGS_PATH is None
    assert configs.MQ_TYPE == "memory"
    _use_file(monkeypatch, tmp_path, "mq:\n  type: kafka\n")
    reset_settings()
    assert configs.MQ_TYPE == "kafka"


def test_flowcept_configs_unknown_name_is_attribute_error(home):
    import flowcept.configs as configs

    with pytest.raises(AttributeError):
        configs.NOT_A_REAL_CONSTANT  # noqa: B018


# ---------------------------------------------------------------- upstream sample file

UPSTREAM_SAMPLE = """
flowcept_version: 0.8.11

project:
  debug: true
  json_serializer: default
  replace_non_json_serializable: true
  performance_logging: false
  enrich_messages: true
  db_flush_mode: online
  dump_buffer:
    enabled: true
    path: flowcept_buffer.jsonl

log:
  log_path: "default"
  log_file_level: error
  log_stream_level: error

telemetry_capture:
  gpu: ~
  cpu: true
  per_cpu: true
  process_info: true
  mem: true
  disk: true
  network: true
  machine_info: true

instrumentation:
  enabled: true
  torch:
    what: parent_and_children
    children_mode: telemetry_and_tensor_inspection
    epoch_loop: lightweight
    batch_loop: lightweight
    capture_epochs_at_every: 1
    register_workflow: true

experiment:
  user: root

mq:
  type: redis
  host: localhost
  # instances: ["localhost:6379"]
  port: 6379
  channel: interception
  buffer_size: 50
  insertion_buffer_time_secs: 5
  timing: false
  chunk_size: -1
  same_as_kvdb: false

kv_db:
  host: localhost
  port: 6379
  enabled: true
  # uri: use Redis connection uri here

web_server:
  host: 0.0.0.0
  port: 5000

sys_metadata:
  environment_id: "laptop"

extra_metadata:
  place_holder: ""

analytics:
  sort_orders:
    generated.loss: minimum_first
    generated.accuracy: maximum_first

db_buffer:
  insertion_buffer_time_secs: 5
  buffer_size: 50
  remove_empty_fields: false
  stop_max_trials: 240
  stop_trials_sleep: 0.01

databases:

  lmdb:
    enabled: true
    path: flowcept_lmdb

  mongodb:
    enabled: false
    host: localhost
    port: 27017
    db: flowcept
    create_collection_index: true

adapters:
  mlflow:
    kind: mlflow
    file_path: mlflow.db
    log_params: ['*']
    log_metrics: ['*']
    watch_interval_sec: 2

  tensorboard:
    kind: tensorboard
    file_path: tensorboard
    log_tags: ['scalars', 'hparams', 'tensors']
    log_metrics: ['accuracy']
    watch_interval_sec: 5

  dask:
    kind: dask
    worker_should_get_input: true
    worker_should_get_output: true
    scheduler_should_get_input: true
    redis_host: localhost
    redis_port: 6379
"""


def test_upstream_sample_settings_file_loads_without_errors_or_warnings(home, tmp_path, monkeypatch):
    path = _use_file(monkeypatch, tmp_path, UPSTREAM_SAMPLE)
    s = _load()
    assert s.source == path
    assert s.warnings == []
    assert s.get("mq.type") == "redis"
    assert s.get("kv_db.enabled") is True
    assert s.get("databases.lmdb.enabled") is True
    assert s.get("adapters.mlflow.kind") == "mlflow"
    assert s.get("adapters.dask.redis_port") == 6379
    assert s.get("analytics.sort_orders") == {
        "generated.loss": "minimum_first",
        "generated.accuracy": "maximum_first",
    }
    assert s.get("telemetry_capture.per_cpu") is True
    assert s.get("instrumentation.torch.what") == "parent_and_children"
    assert s.get("sys_metadata.environment_id") == "laptop"


def test_a_settings_file_that_is_not_utf8_is_a_settings_error_naming_the_byte(home, tmp_path, monkeypatch):
    path = tmp_path / "cfg" / "settings.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"project:\n  db_flush_mode: \xff\n")
    monkeypatch.setenv("FLOWCEPT_SETTINGS_PATH", str(path))
    with pytest.raises(SettingsError, match=r"not UTF-8 text: byte 0xff at offset 26"):
        _load()
