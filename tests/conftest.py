"""Shared fixtures: every test starts and ends with fresh settings and registry, inside its own tmp_path."""

from __future__ import annotations

import pytest

from flowcept_core.registry import reset_registry
from flowcept_core.settings import reset_settings


@pytest.fixture(autouse=True)
def _fresh_state(tmp_path, monkeypatch):
    """Reset settings and the plugin registry around each test; run it in tmp_path so buffer files stay out of
    the repository."""
    monkeypatch.chdir(tmp_path)
    reset_settings()
    reset_registry()
    yield
    reset_settings()
    reset_registry()


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
