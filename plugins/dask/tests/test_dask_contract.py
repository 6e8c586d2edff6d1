"""The interceptor contract (flowcept_core.testing.InterceptorContract) run against the dask interceptor on a real
LocalCluster with worker processes."""

from __future__ import annotations

from typing import Any

import dask_tasks
import pytest

from flowcept_core.testing import InterceptorContract


class TestDaskInterceptor(InterceptorContract):
    interceptor_name = "dask"

    @pytest.fixture(autouse=True)
    def _client(self, dask_client: Any) -> None:
        self.client = dask_client
        self.flowcept_kwargs = {"dask_client": dask_client}

    def run_workload(self) -> int:
        futures = self.client.map(dask_tasks.add, [1, 2, 3], pure=False)
        self.client.gather(futures)
        return 3

    def observed_state(self) -> Any:
        on_scheduler = self.client.run_on_scheduler(_scheduler_plugins)
        on_workers = self.client.run(_worker_plugins)
        return on_scheduler, sorted(map(tuple, on_workers.values()))


def _scheduler_plugins(dask_scheduler: Any = None) -> list[str]:
    return sorted(dask_scheduler.plugins)


def _worker_plugins(dask_worker: Any = None) -> list[str]:
    return sorted(dask_worker.plugins)
