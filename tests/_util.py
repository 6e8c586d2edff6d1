"""Test helpers: write a settings.yaml for a test and make flowcept read it."""

from __future__ import annotations

import os
from typing import Any

import yaml

from flowcept import BaseConsumer
from flowcept_core.registry import reset_registry
from flowcept_core.settings import reset_settings

OFFLINE = {
    "project": {"db_flush_mode": "offline", "dump_buffer": {"enabled": True, "path": "flowcept_buffer.jsonl"}},
    "telemetry_capture": {},
    "log": {"log_stream_level": "error", "log_file_level": "disable"},
}


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def use_settings(tmp_path: Any, monkeypatch: Any, tree: dict | None = None, base: dict | None = OFFLINE) -> str:
    """Write base+tree as settings.yaml in tmp_path, point FLOWCEPT_SETTINGS_PATH at it, reload settings."""
    path = os.path.join(str(tmp_path), "settings.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(_merge(base or {}, tree or {}), f)
    monkeypatch.setenv("FLOWCEPT_SETTINGS_PATH", path)
    reset_settings()
    reset_registry()
    return path


def tasks(msgs: list[dict], activity_id: str | None = None) -> list[dict]:
    return [m for m in msgs if m.get("type") == "task" and (activity_id is None or m.get("activity_id") == activity_id)]


class Collector(BaseConsumer):
    """A consumer that keeps every message it is handed."""

    def __init__(self):
        super().__init__()
        self.msgs: list[dict] = []

    def message_handler(self, msg_obj: dict) -> bool:
        self.msgs.append(msg_obj)
        return True
