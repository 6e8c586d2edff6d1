"""The Dask plugins by their upstream names (``from flowcept import FlowceptDaskWorkerAdapter``, and upstream's
``flowcept.flowceptor.adapters.dask.dask_plugins``)."""

from __future__ import annotations

from flowcept_dask.scheduler import FlowceptDaskSchedulerAdapter
from flowcept_dask.worker import FlowceptDaskWorkerAdapter

__all__ = ["FlowceptDaskWorkerAdapter", "FlowceptDaskSchedulerAdapter"]
