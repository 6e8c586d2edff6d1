"""Plugins own their settings: each spec's SettingsSection is checked when Flowcept starts, with errors as clear as
the core's, and the core's key tree names no plugin's keys."""

from __future__ import annotations

import pytest
import yaml

from flowcept import Flowcept
from flowcept_core import settings_tree
from flowcept_core.plugin import Interceptor, InterceptorSpec, Key, SettingsSection, hookimpl
from flowcept_core.plugin_settings import check_plugin_settings
from flowcept_core.registry import PluginRegistry, get_registry, reset_registry
from flowcept_core.settings import Settings, SettingsError, load_settings, reset_settings


def _online(**tree):
    return Settings({"project": {"db_flush_mode": "online"}, **tree})


def _installed(name, kind):
    if name not in PluginRegistry(env={}).names(kind):
        pytest.skip(f"the {name} plugin is not installed")


def test_core_tree_names_no_plugin_key():
    assert not {"vhost", "redelivery_secs", "partitions"} & set(settings_tree.DEFAULTS["mq"])
    assert not [k for k in settings_tree.RULES if k.startswith(("databases.", "adapters."))]
    assert not [s for s in settings_tree.CLOSED_SECTIONS if s.startswith("databases.")]


def test_a_backends_own_key_is_checked_with_key_value_and_limit():
    _installed("kafka", "mq_backend")
    with pytest.raises(SettingsError, match=r"settings key mq\.partitions = 0 must be at least 1"):
        check_plugin_settings(_online(mq={"type": "kafka", "partitions": 0}))
    with pytest.raises(SettingsError, match=r"mq\.partitions = '3' has type str; expected int"):
        check_plugin_settings(_online(mq={"type": "kafka", "partitions": "3"}))
    assert check_plugin_settings(_online(mq={"type": "kafka", "partitions": 3})) == []


def test_only_the_chosen_backend_checks_its_keys_and_typos_get_a_hint():
    _installed("redis", "mq_backend")
    assert check_plugin_settings(_online(mq={"type": "memory", "redelivery_secs": -1})) == [
        "unknown settings key mq.redelivery_secs is ignored"]  # memory does not read it: not checked, not known
    with pytest.raises(SettingsError, match=r"mq\.redelivery_secs = -1 must be at least 0"):
        check_plugin_settings(_online(mq={"type": "redis", "redelivery_secs": -1}))
    warnings = check_plugin_settings(_online(mq={"type": "redis", "redelivery_sec": 2}))
    assert warnings == ["unknown settings key mq.redelivery_sec is ignored; did you mean mq.redelivery_secs?"]


def test_a_key_an_installed_backend_declares_is_not_unknown_when_loading(tmp_path):
    _installed("rabbitmq", "mq_backend")
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump({"mq": {"type": "rabbitmq", "vhost": "/prod", "vhots": "x"}}))
    warnings = load_settings(str(path), env={}).warnings
    assert warnings == ["unknown settings key mq.vhots is ignored; did you mean mq.vhost?"]


def test_an_enabled_stores_section_is_checked():
    _installed("mongodb", "store")
    with pytest.raises(SettingsError, match=r"databases\.mongodb\.native_queries = 'sometimes' is not allowed"):
        check_plugin_settings(_online(databases={"mongodb": {"enabled": True, "native_queries": "sometimes"}}))
    assert check_plugin_settings(_online(databases={"mongodb": {"enabled": False, "native_queries": "x"}})) == []
    warnings = check_plugin_settings(_online(databases={"mongodb": {"enabled": True, "hots": "h"}}))
    assert warnings == ["unknown settings key databases.mongodb.hots is ignored; did you mean databases.mongodb.host?"]


def test_start_fails_on_a_bad_plugin_key_naming_it(tmp_path, monkeypatch):
    _installed("lmdb", "store")
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump({"databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "db"),
                                                           "max_readers": 0}},
                                    "log": {"log_stream_level": "error"}}))
    monkeypatch.setenv("FLOWCEPT_SETTINGS_PATH", str(path))
    reset_settings()
    reset_registry()
    fc = Flowcept(workflow_name="bad-plugin-key")
    with pytest.raises(SettingsError, match=r"databases\.lmdb\.max_readers = 0 must be at least 1"):
        fc.start()
    assert fc.is_started is False


class _Levelled(Interceptor):
    kind = "levelled"


class _LevelledPlugin:
    @hookimpl
    def flowcept_interceptors(self):
        return [InterceptorSpec("levelled", _Levelled,
                                SettingsSection("adapters.levelled", {"level": Key(int, 1, minimum=0)}))]


def test_an_adapters_section_is_checked_under_the_key_the_user_chose(tmp_path, monkeypatch):
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump({"adapters": {"mine": {"kind": "levelled", "level": -2}},
                                    "project": {"db_flush_mode": "offline", "dump_buffer": {"enabled": False}},
                                    "log": {"log_stream_level": "error"}}))
    monkeypatch.setenv("FLOWCEPT_SETTINGS_PATH", str(path))
    reset_settings()
    reset_registry()
    get_registry().register(_LevelledPlugin(), name="levelled", dist="levelled-dist")
    with pytest.raises(SettingsError, match=r"adapters\.mine\.level = -2 must be at least 0"):
        Flowcept(interceptors=["mine"]).start()
