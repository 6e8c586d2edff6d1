"""The interceptor contract (flowcept_core.testing.InterceptorContract) run against the mlflow interceptor, with
real MLflow writing a SQLite tracking database."""

from __future__ import annotations

from typing import Any

import pytest

from flowcept_core.testing import InterceptorContract


class TestMlflowInterceptor(InterceptorContract):
    interceptor_name = "mlflow"

    @pytest.fixture(autouse=True)
    def _tracking_db_read_at_start_and_stop_only(self, tracking_db: Any, use_settings: Any) -> None:
        # The watcher sends a run again each time it changes (a task's updates share its task_id). The contract
        # counts messages per task, so the runs it drives are read once, by the read stop() makes: the periodic
        # read is set an hour apart. The MQ and store checks use their own settings (the default interval).
        use_settings(watch_interval_sec=3600)

    def run_workload(self) -> int:
        import mlflow

        for i in range(2):
            with mlflow.start_run(run_name=f"contract-{i}"):
                mlflow.log_param("i", i)
                mlflow.log_metric("m", float(i))
        return 2
