"""WorkerCapture: captures decorated functions called on a Dask worker and sends their messages to the client.

A worker process cannot reach the client's in-process MQ, so the worker runs its own Flowcept run (the client's
workflow and campaign ids, instrumentation only, the in-process MQ of the worker, no store). A consumer on that MQ
collects the messages; every ``flush_interval_secs`` the worker's event loop sends what it holds as one batch
(``encode_batch`` bytes) on the run's capture topic, which the client's interceptor subscribed to. ``close()``
stops the run, sends the rest and a final marker naming the worker, so the client knows everything arrived.
"""

from __future__ import annotations

import warnings
from typing import Any

from flowcept_core.plugin import CONTROL_TYPE, BaseConsumer

__all__ = ["WorkerCapture"]


class _Collect(BaseConsumer):
    """Keeps the worker-side run's messages until the worker's event loop sends them."""

    def __init__(self, settings: Any):
        super().__init__(settings)
        self.pending: list[dict] = []

    def message_handler(self, msg_obj: dict) -> bool:
        if msg_obj.get("type") != CONTROL_TYPE:  # the worker run's own stream markers stay here
            self.pending.append(msg_obj)
        return True

    def take(self) -> list[dict]:
        batch, self.pending = self.pending, []
        return batch


class WorkerCapture:
    """The worker-side run and its forwarder; built and started by the worker plugin's setup."""

    def __init__(self, worker: Any, config: dict):
        self.worker = worker
        self.topic = config["capture_topic"]
        self.interval = float(config.get("flush_interval_secs") or 0.1)
        self.settings = _worker_settings(config)
        self.config = config
        self._run: Any = None
        self._consumer: _Collect | None = None
        self._callback: Any = None

    def start(self) -> None:
        from tornado.ioloop import PeriodicCallback

        from flowcept import Flowcept

        with warnings.catch_warnings():  # the in-process MQ is the point here: its reach warning does not apply
            warnings.simplefilter("ignore")
            self._consumer = _Collect(self.settings).start(daemon=True)
        self._run = Flowcept(interceptors=["instrumentation"], workflow_id=self.config["workflow_id"],
                             campaign_id=self.config.get("campaign_id"), start_persistence=False,
                             save_workflow=False, check_safe_stops=False, settings=self.settings)
        self._run.start()
        self._callback = PeriodicCallback(self.send, self.interval * 1000)
        self._callback.start()

    def send(self) -> None:
        """Send what was collected as one event (called on the worker's event loop, or at close)."""
        consumer = self._consumer
        if consumer is None or not consumer.pending:
            return
        from flowcept_core.plugin import encode_batch

        try:
            self.worker.log_event(self.topic, encode_batch(consumer.take()))
        except Exception as e:
            from flowcept_core.plugin import get_logger

            get_logger().error(f"flowcept could not send decorated-call messages from {self.worker.address}: {e}")

    def close(self) -> None:
        """Stop the worker-side run, send everything it captured and the final marker; never raises."""
        if self._callback is not None:
            self._callback.stop()
        try:
            if self._run is not None:
                self._run.stop()
            if self._consumer is not None:
                self._consumer.stop_consumption()
        except Exception as e:
            from flowcept_core.plugin import get_logger

            get_logger().error(f"flowcept could not stop the capture on worker {self.worker.address}: {e}")
        self.send()
        try:
            self.worker.log_event(self.topic, {"closed": self.worker.address})
        except Exception:
            pass


def _worker_settings(config: dict) -> Any:
    """The client's settings (credentials masked), with what a worker-side run needs: online to this process's MQ,
    no store, no buffer file."""
    from flowcept_core.plugin import Settings

    tree = dict(config.get("settings") or {})
    tree["mq"] = {**(tree.get("mq") or {}), "type": "memory", "channel": f"flowcept-dask-{config['token']}",
                  "signing_key": None, "password": None, "uri": None}
    project = dict(tree.get("project") or {})
    project["db_flush_mode"] = "online"
    project["dump_buffer"] = {**(project.get("dump_buffer") or {}), "enabled": False}
    tree["project"] = project
    tree["databases"] = {name: {**section, "enabled": False} if isinstance(section, dict) else section
                         for name, section in (tree.get("databases") or {}).items()}
    tree["adapters"] = {}
    return Settings(tree)
