"""Shared fixtures: every test starts and ends with fresh process state, inside its own tmp_path."""

from __future__ import annotations

import pytest

from flowcept_core.runtime import reset_runtime
from flowcept_core.testing.defaults import builtin_defaults


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
    with builtin_defaults(tmp_path, monkeypatch):
        yield
