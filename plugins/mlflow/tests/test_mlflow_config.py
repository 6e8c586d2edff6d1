"""How adapters.mlflow settings are read: name filters, the tracking database path, the state file's place."""

from __future__ import annotations

import os

import pytest
from flowcept_mlflow.config import MlflowConfig, NameFilter, tracking_db_path

from flowcept_core.plugin import Settings, SettingsError


@pytest.mark.parametrize("value,kept,dropped", [
    (["*"], ["loss", ""], []), ("*", ["loss"], []), (True, ["loss"], []), (None, ["loss"], []),
    ([], [], ["loss"]), (False, [], ["loss"]), (["loss", "acc"], ["loss", "acc"], ["lr"]), ("loss", ["loss"], ["acc"]),
])
def test_name_filters_keep_all_none_or_the_names_given(value, kept, dropped):
    names = NameFilter(value)
    assert all(names.keeps(n) for n in kept) and not any(names.keeps(n) for n in dropped)


def test_file_path_takes_a_path_or_a_sqlite_uri(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert tracking_db_path("mlflow.db") == str(tmp_path / "mlflow.db")
    assert tracking_db_path("sqlite:///mlflow.db") == str(tmp_path / "mlflow.db")
    assert tracking_db_path("sqlite:////data/m.db") == "/data/m.db"
    with pytest.raises(SettingsError, match="postgresql://h/db"):
        tracking_db_path("postgresql://h/db")


def test_defaults_and_upstream_keys(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = MlflowConfig.from_settings(Settings({"adapters": {"mlflow": {
        "kind": "mlflow", "file_path": "runs/m.db", "log_params": ["*"], "log_metrics": ["loss"],
        "redis_host": "localhost", "redis_port": 6379, "watch_interval_sec": 2}}}))
    assert config.db_path == os.path.join(tmp_path, "runs", "m.db")
    assert config.state_path == config.db_path + ".flowcept-state.json"
    assert config.interval == 2.0 and config.metric_history is False and config.capture_existing_runs is True
    assert config.params.names is None and config.metrics.names == frozenset({"loss"})
    assert MlflowConfig.from_settings(Settings({})).db_path == str(tmp_path / "mlflow.db")


@pytest.mark.parametrize("key,value,match", [
    ("watch_interval_sec", 0, "at least"), ("watch_interval_sec", "fast", "expected int or float"),
    ("metric_history", "yes", "expected bool"), ("log_params", [1], "non-string items"),
])
def test_a_bad_value_names_the_key_and_what_is_allowed(key, value, match):
    with pytest.raises(SettingsError, match=rf"adapters\.mlflow\.{key}.*{match}|{match}.*adapters\.mlflow\.{key}"):
        MlflowConfig.from_settings(Settings({"adapters": {"mlflow": {key: value}}}))


def test_the_state_file_keeps_runs_another_watcher_saved_and_its_own_marks(tmp_path):
    from flowcept_mlflow.state import CaptureState

    path, db = str(tmp_path / "s.json"), str(tmp_path / "m.db")
    first, second = CaptureState(path, db), CaptureState(path, db)
    for state, run, mark in ((first, "a", 5), (second, "b", 3)):
        state.database_changed(7)
        state.marks = {"runs": mark}
        state.runs = {run: [f"wf-{run}", None, "FINISHED", 1, "d", "active", run]}
        state.save()
    saved = CaptureState(path, db).load()
    assert saved.loaded and saved.inode == 7 and saved.marks == {"runs": 3}
    assert saved.runs == {"a": ["wf-a", None, "FINISHED", 1, "d", "active", "a"],
                          "b": ["wf-b", None, "FINISHED", 1, "d", "active", "b"]}
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert CaptureState(path, str(tmp_path / "other.db")).load().loaded is False  # another database's file
