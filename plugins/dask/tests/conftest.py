"""Fixtures for the Dask plugin tests: a real LocalCluster with worker processes (one per module), and settings
with the in-process MQ and an LMDB store in the test's tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from dask_tasks import new_cluster

from flowcept_core.registry import reset_registry
from flowcept_core.runtime import reset_runtime
from flowcept_core.settings import reset_settings
from flowcept_core.stores import close_stores


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    cluster, client = new_cluster()
    yield client
    client.close()
    cluster.close()


@pytest.fixture(autouse=True)
def _fresh_state(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    reset_runtime()
    yield
    close_stores()
    reset_runtime()


@pytest.fixture
def write_settings(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """write_settings(**sections): settings.yaml with the in-process MQ and LMDB in tmp_path, sections overlaid."""

    def write(**sections: Any) -> None:
        tree: dict[str, Any] = {
            "log": {"log_stream_level": "error", "log_file_level": "disable"},
            "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
            "mq": {"type": "memory", "insertion_buffer_time_secs": 0.05},
            "databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "lmdb")}},
        }
        for key, value in sections.items():
            tree[key] = {**tree.get(key, {}), **value}
        path = tmp_path / "settings.yaml"
        path.write_text(yaml.safe_dump(tree))
        monkeypatch.setenv("FLOWCEPT_SETTINGS_PATH", str(path))
        close_stores()
        reset_settings()
        reset_registry()

    write()
    return write
