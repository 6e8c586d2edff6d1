"""FlowceptDaskWorkerAdapter: the worker plugin. Runs in each worker process.

While a task executes, its function is called through ``_Call``: the Dask key becomes the parent of decorated
calls made inside (``PARENT``), and the inputs (by parameter name), outputs, times and host are recorded in the
executing thread. The record travels to the scheduler with Dask's own task-finished message (task metadata), or,
for a task that raised, as a worker event sent just before Dask's task-erred message; the scheduler plugin joins it
with what the scheduler knows and sends the task's final record to the client.

RUNNING: a task that starts executing is noted (start time, function); every ``flush_interval_secs`` the tasks still
executing are sent to the scheduler plugin as one worker event, and a task that ends before that is dropped from
the batch (its final record carries its times), so short tasks cost a dict insert and a pop. Off with
``adapters.dask.worker_should_send_running: false``.

Decorated functions called on the worker are captured by a worker-side Flowcept run (see worker_capture) whose
messages go to the client through a Dask topic.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from flowcept_core.plugin import PARENT, sanitize
from flowcept_dask.records import (
    ERRORS_TOPIC,
    METADATA_KEY,
    RUNNING_TOPIC,
    WORKER_PLUGIN_NAME,
    encode_record,
    function_name,
    inputs_by_name,
    outputs_by_name,
    task_id_of,
)

__all__ = ["FlowceptDaskWorkerAdapter"]


class _Call:
    """Stands in for a task's function for one execution (the Task's ``func`` is restored as the call starts)."""

    __slots__ = ("func", "spec", "key", "owner")

    def __init__(self, func: Any, spec: Any, key: Any, owner: FlowceptDaskWorkerAdapter):
        self.func, self.spec, self.key, self.owner = func, spec, key, owner

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.spec.func = self.func
        token = PARENT.set(task_id_of(self.key))
        started = time.time()
        try:
            result = self.func(*args, **kwargs)
        except BaseException as e:
            self.owner._record(self.key, self.func, args, kwargs, None, started, e)
            raise
        finally:
            PARENT.reset(token)
        self.owner._record(self.key, self.func, args, kwargs, result, started, None)
        return result


class FlowceptDaskWorkerAdapter(WorkerPlugin):
    """The worker plugin. ``Flowcept(interceptors=["dask"], dask_client=client)`` registers a configured one;
    ``client.register_plugin(FlowceptDaskWorkerAdapter())`` (upstream's form) registers one that reads the active
    run's configuration from the scheduler when it is set up, and does nothing while no run is active.
    """

    name = WORKER_PLUGIN_NAME
    idempotent = False

    def __init__(self, config: dict | None = None):
        self.config = config
        self.worker: Any = None
        self._done: dict[Any, bytes] = {}
        self._active = False
        self._capture: Any = None
        self._hostname = ""
        self._running: dict[Any, tuple[float, Any]] = {}  # executing tasks not reported yet: key -> (start, func)
        self._send_running = False
        self._callback: Any = None

    def __getstate__(self) -> dict:
        return {"config": self.config}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state.get("config"))

    async def setup(self, worker: Any) -> None:
        """Called by Dask when the plugin is attached to a worker."""
        self.worker = worker
        self._hostname = socket.gethostname()
        if self.config is None:
            try:
                self.config = await worker.scheduler.get_metadata(keys=[METADATA_KEY], default=None)
            except Exception:
                self.config = None
        if not self.config:
            return
        self._active = True
        self._send_running = bool(self.config.get("worker_should_send_running", True))
        if self._send_running:
            from tornado.ioloop import PeriodicCallback

            interval = float(self.config.get("flush_interval_secs") or 0.1)
            self._callback = PeriodicCallback(self._flush_running, interval * 1000)
            self._callback.start()
        if (self._hostname, os.getpid()) != tuple(self.config.get("client_process") or ()):
            from flowcept_dask.worker_capture import WorkerCapture

            try:  # decorated calls on this worker; in the client's own process the client's run captures them
                self._capture = WorkerCapture(worker, self.config)
                self._capture.start()
            except Exception as e:
                self._capture = None
                _log_error(f"flowcept could not start capturing decorated calls on worker {worker.address}: {e}")

    def teardown(self, worker: Any) -> None:
        """Called by Dask when the plugin is removed or the worker closes: deliver what the worker-side run holds."""
        self._active = False
        if self._callback is not None:
            self._callback.stop()
            self._callback = None
        self._running.clear()
        capture, self._capture = self._capture, None
        if capture is not None:
            capture.close()

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        """Called by Dask on every task state change on this worker."""
        if not self._active:
            return
        if finish == "executing":
            ts = self.worker.state.tasks.get(key)
            spec = getattr(ts, "run_spec", None)
            func = getattr(spec, "func", None)
            if func is not None and not spec.is_coro:
                if type(func) is _Call:  # the same Task object run again (in-process workers)
                    func = func.func
                spec.func = _Call(func, spec, key, self)
                if self._send_running:
                    self._running[key] = (time.time(), func)
            return
        if self._running and finish != "long-running":  # a task that seceded still runs
            self._running.pop(key, None)
        if finish == "memory":
            blob = self._done.pop(key, None)
            if blob is not None:
                ts = self.worker.state.tasks.get(key)
                if ts is not None:  # the same dict Dask's task-finished message carries to the scheduler
                    ts.metadata["flowcept"] = blob
        elif finish == "error":
            blob = self._done.pop(key, None)
            if blob is not None:  # sent before Dask's task-erred message (same ordered stream)
                self.worker.log_event(ERRORS_TOPIC, {"task_id": task_id_of(key), "record": blob})
        elif finish in ("released", "forgotten"):
            self._done.pop(key, None)

    def _flush_running(self) -> None:
        """Send the tasks executing now (not reported yet) to the scheduler plugin, one event for all; on the
        worker's event loop, never raises."""
        if not self._running or not self._active:
            return
        running, self._running = self._running, {}
        try:
            records = [{"task_id": task_id_of(key), "activity_id": function_name(func, key), "started_at": started,
                        "hostname": self._hostname} for key, (started, func) in running.items()]
            self.worker.log_event(RUNNING_TOPIC, {"running": records})
        except Exception as e:
            _log_error(f"flowcept could not report running Dask tasks: {type(e).__name__}: {e}")

    def _record(self, key: Any, func: Any, args: tuple, kwargs: dict, result: Any, started: float,
                error: BaseException | None) -> None:
        """Called in the executing thread when the task's function returns or raises; never raises."""
        try:
            config = self.config or {}
            record: dict[str, Any] = {"activity_id": function_name(func, key), "hostname": self._hostname}
            if config.get("worker_create_timestamps"):
                record["started_at"] = started
                record["ended_at"] = time.time()
            if config.get("worker_should_get_input", True):
                record["used"] = sanitize(inputs_by_name(func, args, kwargs))
            if error is not None:
                record["stderr"] = f"{type(error).__name__}: {error}"
                record["traceback"] = "".join(traceback.format_exception(error))
            elif config.get("worker_should_get_output", True):
                record["generated"] = sanitize(outputs_by_name(result))
            # sanitized: a fused subgraph's inputs are dicts keyed by tuples, which msgpack carries as array keys
            # that no reader can decode
            self._done[key] = encode_record(record)
        except Exception as e:
            _log_error(f"flowcept could not record Dask task {key!r}: {type(e).__name__}: {e}")


def _log_error(text: str) -> None:
    from flowcept_core.plugin import get_logger

    get_logger().error(text)
