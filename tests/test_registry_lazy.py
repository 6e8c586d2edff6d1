"""The process registry resolves built-in names without plugin discovery; discovery happens later, once."""

from __future__ import annotations

import logging

import pytest

from flowcept_core.registry import PluginRegistry
from tests._plugin_build import fixture_plugins_path


@pytest.fixture(autouse=True)
def fixtures_installed(monkeypatch):
    monkeypatch.syspath_prepend(str(fixture_plugins_path()))


def test_a_builtin_name_resolves_before_the_entry_points_are_loaded(monkeypatch):
    from flowcept_core import entrypoints

    scans = []
    real = entrypoints.entry_points
    monkeypatch.setattr(entrypoints, "entry_points", lambda group: scans.append(group) or real(group))
    r = PluginRegistry(env={}, lazy=True)
    assert r.resolve("mq_backend", "memory").name == "memory"
    assert r.resolve("interceptor", "instrumentation").name == "instrumentation"
    assert scans == []
    assert r.resolve("mq_backend", "echo").name == "echo"  # a plugin's name loads them, once
    assert "redis" in r.names("mq_backend") and scans == ["flowcept"]


def test_a_plugin_reusing_a_builtin_name_is_reported_when_discovery_runs(monkeypatch, caplog):
    monkeypatch.setenv("FLOWCEPT_FIXTURE_DUP", "1")
    r = PluginRegistry(env={}, lazy=True)
    assert r.resolve("mq_backend", "memory").name == "memory"  # handed out before discovery
    with caplog.at_level(logging.ERROR, logger="flowcept"):
        r.ensure_loaded()
    assert any("'memory'" in m and "flowcept-fixture-dup" in m for m in caplog.messages), caplog.messages


def test_strict_registries_load_at_once():
    with pytest.raises(ImportError, match="fixture: missing dependency"):  # the broken fixture plugin, at once
        PluginRegistry(env={}, lazy=True, strict=True)


def test_names_asked_while_another_thread_loads_wait_for_the_whole_load(monkeypatch):
    import threading
    import time

    from flowcept_core import entrypoints

    real = entrypoints.entry_points
    monkeypatch.setattr(entrypoints, "entry_points", lambda group: time.sleep(0.3) or real(group))
    r = PluginRegistry(env={}, lazy=True)
    loader = threading.Thread(target=r.ensure_loaded)
    loader.start()
    time.sleep(0.05)  # the load is under way
    assert "lmdb" in r.names("store")
    loader.join()
