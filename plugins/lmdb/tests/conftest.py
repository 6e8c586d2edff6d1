"""Fixtures for the lmdb plugin's tests: a fresh LMDB directory per test (real LMDB, in-process), and settings /
registry / open stores reset around the tests that go through settings.yaml."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from flowcept_core.registry import reset_registry
from flowcept_core.settings import Settings, reset_settings
from flowcept_core.stores import close_stores


def lmdb_settings(path: Path | str, **lmdb: Any) -> Settings:
    """Settings enabling the lmdb store at path, with extra databases.lmdb.* keys."""
    return Settings({"databases": {"lmdb": {"enabled": True, "path": str(path), **lmdb}}})


@pytest.fixture
def settings_for() -> Callable[..., Settings]:
    """settings_for(path, **lmdb_keys) -> Settings enabling the lmdb store there (see lmdb_settings)."""
    return lmdb_settings


@pytest.fixture
def make_store(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """make_store(**lmdb_keys) -> a new LMDBStore on a fresh directory; every store made is closed at teardown."""
    from flowcept_lmdb.store import LMDBStore

    made: list[Any] = []

    def make(subdir: str | None = None, **lmdb: Any) -> Any:
        path = tmp_path / (subdir or f"lmdb-{len(made)}")
        store = LMDBStore(lmdb_settings(path, **lmdb))
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def lmdb_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A settings.yaml enabling only the lmdb store (in-memory MQ, no dump file); returns the LMDB directory."""
    db_path = tmp_path / "flowcept_lmdb"
    tree = {
        "databases": {"lmdb": {"enabled": True, "path": str(db_path)}, "mongodb": {"enabled": False}},
        "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
        "telemetry_capture": {},
    }
    settings_path = tmp_path / "settings.yaml"
    settings_path.write_text(yaml.safe_dump(tree))
    monkeypatch.setenv("FLOWCEPT_SETTINGS_PATH", str(settings_path))
    close_stores()
    reset_settings()
    reset_registry()
    yield db_path
    close_stores()
    reset_settings()
    reset_registry()
