"""Fixtures for the mlflow plugin tests: real MLflow (mlflow-skinny) on a SQLite tracking database in tmp_path, and
settings pointing flowcept at it with the default in-process MQ and an LMDB store in tmp_path.

MLflow creates its ~60 tables with alembic migrations (seconds); one database is created per test session and
copied for each test.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from flowcept_core.runtime import reset_runtime


def _mlflow() -> Any:
    """mlflow, or a skip saying how to install what the tests need."""
    pytest.importorskip("sqlalchemy",
                        reason="MLflow's SQLite store needs SQLAlchemy (pip install \"flowcept[mlflow]\")")
    return pytest.importorskip("mlflow", reason="mlflow-skinny is not installed (pip install \"flowcept[mlflow]\")")


@pytest.fixture(scope="session")
def empty_tracking_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tracking database with MLflow's tables and no runs (made once, copied by tracking_db)."""
    mlflow = _mlflow()
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    path = tmp_path_factory.mktemp("mlflow-template") / "template.db"
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def tracking_db(empty_tracking_db: Path, tmp_path: Path) -> Path:
    """tmp_path/mlflow.db: a fresh copy of the empty tracking database, and MLflow's tracking URI set to it."""
    mlflow = _mlflow()
    path = tmp_path / "mlflow.db"
    shutil.copyfile(empty_tracking_db, path)
    mlflow.set_tracking_uri(f"sqlite:///{path}")
    return path


@pytest.fixture(autouse=True)
def _fresh_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test runs in its own tmp_path with fresh flowcept state and no user settings file."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("FLOWCEPT_SETTINGS_PATH", raising=False)
    reset_runtime()
    yield
    import sys

    mlflow = sys.modules.get("mlflow")
    if mlflow is not None and mlflow.active_run() is not None:
        mlflow.end_run()
    reset_runtime()


@pytest.fixture
def use_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """use_settings(**mlflow_keys) -> writes settings.yaml (adapters.mlflow from the keys, file_path defaulting to
    tmp_path/mlflow.db; short flush times; LMDB in tmp_path) and points FLOWCEPT_SETTINGS_PATH at it."""

    pytest.importorskip("flowcept_lmdb",
                        reason="the lmdb store plugin is not installed (pip install \"flowcept[lmdb]\")")

    def write(adapters: dict[str, Any] | None = None, **mlflow_keys: Any) -> Path:
        keys = {"kind": "mlflow", "file_path": str(tmp_path / "mlflow.db"), "watch_interval_sec": 0.05,
                **mlflow_keys}
        tree = {
            "log": {"log_stream_level": "error", "log_file_level": "disable"},
            "project": {"dump_buffer": {"enabled": True, "path": str(tmp_path / "buffer.jsonl")}},  # get_buffer()
            "mq": {"insertion_buffer_time_secs": 0.05},
            "db_buffer": {"insertion_buffer_time_secs": 0.05},
            "databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "lmdb")}},
            "adapters": adapters if adapters is not None else {"mlflow": keys},
        }
        path = tmp_path / "settings.yaml"
        path.write_text(yaml.safe_dump(tree))
        monkeypatch.setenv("FLOWCEPT_SETTINGS_PATH", str(path))
        reset_runtime()
        return path

    return write
