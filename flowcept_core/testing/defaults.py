"""The built-in defaults (in-process MQ, LMDB store) for a test: no settings file, no environment overrides.

@pytest.fixture
def defaults(tmp_path, monkeypatch):
    with builtin_defaults(tmp_path, monkeypatch):
        yield
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from flowcept_core.registry import reset_registry
from flowcept_core.settings import get_settings, reset_settings
from flowcept_core.stores import close_stores

__all__ = ["OVERRIDE_ENV", "builtin_defaults"]

# environment variables that override the built-in defaults of the pipeline
OVERRIDE_ENV = ("MQ_TYPE", "MQ_INSERTION_BUFFER_TIME", "DB_FLUSH_MODE", "LMDB_ENABLED", "LMDB_PATH")


@contextmanager
def builtin_defaults(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Within the block flowcept runs on its built-in defaults: HOME is ``home`` (so no ~/.flowcept/settings.yaml),
    FLOWCEPT_SETTINGS_PATH and OVERRIDE_ENV are unset, settings, registry and stores are fresh; the stores opened
    inside are closed on leaving. Skips the test when the lmdb plugin (the default store) is not installed."""
    pytest.importorskip("flowcept_lmdb", reason="the lmdb plugin (the default store) is not installed")
    monkeypatch.delenv("FLOWCEPT_SETTINGS_PATH", raising=False)
    monkeypatch.setenv("HOME", str(home))
    for name in OVERRIDE_ENV:
        monkeypatch.delenv(name, raising=False)
    close_stores()
    reset_settings()
    reset_registry()
    assert get_settings().source is None, f"settings were read from {get_settings().source}, not the defaults"
    try:
        yield
    finally:
        close_stores()
