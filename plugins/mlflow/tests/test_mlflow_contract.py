"""The interceptor contract (flowcept_core.testing.InterceptorContract) run against the mlflow interceptor, with
real MLflow writing a SQLite tracking database."""

from __future__ import annotations

from typing import Any

import pytest

from flowcept_core.testing import InterceptorContract


class TestMlflowInterceptor(InterceptorContract):
    interceptor_name = "mlflow"

    @pytest.fixture(autouse=True)
    def _tracking_db(self, tracking_db: Any, use_settings: Any) -> None:
        # the watcher sends a run again each time it changes: a task's updates share its task_id (stores merge them)
        use_settings()

    def run_workload(self) -> int:
        import mlflow

        for i in range(2):
            with mlflow.start_run(run_name=f"contract-{i}"):
                mlflow.log_param("i", i)
                mlflow.log_metric("m", float(i))
        return 2
