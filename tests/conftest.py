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
