"""Shared fixtures: every test starts and ends with fresh process state, inside its own tmp_path."""

from __future__ import annotations

import pytest

from flowcept_core.registry import reset_registry
from flowcept_core.runtime import reset_runtime
from flowcept_core.settings import get_settings, reset_settings
from flowcept_core.stores import close_stores


@pytest.fixture(autouse=True)
def _fresh_state(tmp_path, monkeypatch):
    """Reset the process state (flowcept_core.runtime: settings, registry, open stores, in-process broker) around
    each test; run it in tmp_path so buffer files stay out of the repository."""
    monkeypatch.chdir(tmp_path)
    reset_runtime()
    yield
    reset_runtime()


@pytest.fixture(scope="module")
def mongo_uri(tmp_path_factory):
    """A private MongoDB-wire server (NX-27017) for the module's tests; skips them, saying why, when the mongodb
    plugin is not installed or the server cannot start."""
    pytest.importorskip("flowcept_mongodb", reason="the mongodb plugin is not installed")
    from tests.services import start_mongo_wire, stop_server

    proc, uri = start_mongo_wire(tmp_path_factory.mktemp("nx"))
    if proc is None:
        pytest.skip(f"MongoDB-wire server could not start: {uri}")
    yield uri
    stop_server(proc)


@pytest.fixture
def defaults(tmp_path, monkeypatch):
    """The built-in defaults (in-process MQ, LMDB): no settings file, no environment overrides."""
    pytest.importorskip("flowcept_lmdb", reason="the lmdb plugin is not installed")
    monkeypatch.delenv("FLOWCEPT_SETTINGS_PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.flowcept/settings.yaml
    for name in ("MQ_TYPE", "MQ_INSERTION_BUFFER_TIME", "DB_FLUSH_MODE", "LMDB_ENABLED", "LMDB_PATH"):
        monkeypatch.delenv(name, raising=False)
    close_stores()
    reset_settings()
    reset_registry()
    assert get_settings().source is None
    yield
    close_stores()
