"""MlflowInterceptor: records each run of an MLflow SQLite tracking database as a task while started.

Example::

    import mlflow
    from flowcept import Flowcept

    mlflow.set_tracking_uri("sqlite:///mlflow.db")      # the file adapters.mlflow.file_path names
    with Flowcept("mlflow"):
        with mlflow.start_run():
            mlflow.log_params({"lr": 0.1})
            mlflow.log_metric("loss", 0.2)
"""

from __future__ import annotations

from typing import Any

from flowcept_core.plugin import Interceptor
from flowcept_mlflow.config import MlflowConfig
from flowcept_mlflow.watcher import TrackingWatcher

__all__ = ["MlflowInterceptor", "MLFlowInterceptor"]


class MlflowInterceptor(Interceptor):
    """Watches ``adapters.mlflow.file_path`` between start and stop (see flowcept_mlflow.watcher).

    ``settings``: flowcept Settings (the process settings when None); ``plugin_key``: the ``adapters`` key to read
    when it is not ``mlflow`` (upstream's ``MLFlowInterceptor("my_mlflow")`` form is accepted too). Runs that are new
    to this database's state file belong to the run's workflow; stop() sends what was committed before it and saves
    the state file, so the next start continues where this one ended.
    """

    kind = "mlflow"

    def __init__(self, settings: Any = None, plugin_key: str | None = None, **options: Any):
        if isinstance(settings, str):  # MLFlowInterceptor("mlflow"): upstream passes the adapters key first
            settings, plugin_key = None, settings
        if settings is None:
            from flowcept_core.plugin import get_settings

            settings = get_settings()
        super().__init__(settings, **options)
        self.config = MlflowConfig.from_settings(settings, plugin_key)
        self._watcher: TrackingWatcher | None = None

    def _start(self) -> None:
        emitter = self.emitter
        emitter.add_workflow_fields(custom_metadata={"mlflow": {"tracking_db": self.config.db_path}})
        self._watcher = TrackingWatcher(self.config, emitter.emit_task,
                                        lambda: (emitter.workflow_id, emitter.campaign_id))
        self._watcher.start()

    def _stop(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()  # its last read emits through self.emitter, still usable here

    @property
    def state(self) -> Any:
        """What was captured from the database so far (flowcept_mlflow.state.CaptureState), or None when stopped."""
        return None if self._watcher is None else self._watcher.state


MLFlowInterceptor = MlflowInterceptor  # upstream's class name
