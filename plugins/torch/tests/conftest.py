"""Fixtures for the torch plugin's tests: each test runs in its own directory with the default pipeline (in-process
MQ, LMDB store there) and the ``instrumentation.torch`` section it asks for; documents are read through
``Flowcept.db``."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from flowcept_core.runtime import reset_runtime

LOG = {"log": {"log_stream_level": "error", "log_file_level": "disable"}}
ENV = ("MQ_TYPE", "MQ_INSERTION_BUFFER_TIME", "DB_FLUSH_MODE", "LMDB_ENABLED", "LMDB_PATH")


@pytest.fixture(autouse=True)
def _fresh(tmp_path, monkeypatch):
    """A private directory (the LMDB store lives there), no user settings file, fresh process state."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("FLOWCEPT_SETTINGS_PATH", raising=False)
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    reset_runtime()
    yield
    reset_runtime()


@pytest.fixture
def torch_settings(tmp_path, monkeypatch) -> Callable[..., str]:
    """torch_settings(what=..., children_mode=..., **more_tree) writes settings.yaml with those
    ``instrumentation.torch`` keys (and any other top-level sections given as dicts) and makes flowcept read it."""

    def use(tree: dict | None = None, **torch_keys: Any) -> str:
        content = {**LOG, **(tree or {})}
        inst = dict(content.get("instrumentation") or {})
        inst["torch"] = {**inst.get("torch", {}), **torch_keys}
        content["instrumentation"] = inst
        path = os.path.join(str(tmp_path), "settings.yaml")
        with open(path, "w") as f:
            yaml.safe_dump(content, f)
        monkeypatch.setenv("FLOWCEPT_SETTINGS_PATH", path)
        reset_runtime()
        return path

    return use

