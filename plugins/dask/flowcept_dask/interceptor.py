"""DaskInterceptor: registers the scheduler and worker plugins on the user's client and emits what they report.

Worker processes cannot reach the client's MQ, and nothing here needs a networked one: the scheduler plugin sends
task records as events on a topic private to this run, workers send their decorated calls' messages on another,
and this interceptor (subscribed to both on the client) emits them through its emitter like any captured message.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
import warnings
from typing import Any

from flowcept_core.plugin import Interceptor, Status, decode_batch, get_logger
from flowcept_dask.hooks import SETTINGS
from flowcept_dask.records import METADATA_KEY, SCHEDULER_PLUGIN_NAME, WORKER_PLUGIN_NAME, decode_record
from flowcept_dask.scheduler import FlowceptDaskSchedulerAdapter
from flowcept_dask.worker import FlowceptDaskWorkerAdapter

__all__ = ["DaskInterceptor"]


class DaskInterceptor(Interceptor):
    """Observes every task the cluster behind ``dask_client`` runs between start and stop.

    Each task gives a task message when it ends (``task_id`` is the Dask key): a retried task its last attempt,
    a task cancelled before it finished ERROR with a CancelledError, a task still running at stop its current
    status; before that, a SUBMITTED message if it was still waiting when the scheduler's batch left, and a
    RUNNING one if it was still executing when its worker's batch left (the store merges them by task_id).
    The workflow record gets ``adapter_id: "dask"`` and the cluster (scheduler, workers, threads).
    """

    kind = "dask"

    def __init__(self, settings: Any = None, dask_client: Any = None):
        super().__init__(settings)
        self.client = dask_client
        self.config_values = SETTINGS.values(settings)
        self._marks: set[str] = set()
        self._marked = threading.Condition()
        self._config: dict[str, Any] = {}
        self._drained = False
        self._patched: dict[str, Any] = {}

    # start and stop ------------------------------------------------------------------------------------------------
    def _start(self) -> None:
        if self.client is None:
            from distributed import default_client

            try:
                self.client = default_client()
            except ValueError:  # upstream's form without a client runs; say what is missing and capture no task
                warnings.warn("the dask interceptor found no Dask client, so no Dask task is recorded in this run: "
                              "pass Flowcept(interceptors=['dask'], dask_client=client), or create a "
                              "distributed.Client before the run starts", UserWarning, stacklevel=2)
                return
        token = uuid.uuid4().hex[:12]
        values = self.config_values
        self._config = config = {
            "token": token, "tasks_topic": f"flowcept-dask-tasks-{token}",
            "capture_topic": f"flowcept-dask-capture-{token}",
            "workflow_id": self.emitter.workflow_id, "campaign_id": self.emitter.campaign_id,
            "settings": self._settings_tree(), "client_process": [socket.gethostname(), os.getpid()],
            **{k: values[k] for k in ("worker_should_get_input", "worker_should_get_output",
                                      "scheduler_should_get_input", "worker_create_timestamps",
                                      "worker_should_send_running", "scheduler_should_send_submitted",
                                      "flush_interval_secs")},
        }
        client = self.client
        client.subscribe_topic(config["tasks_topic"], self._on_tasks)
        client.subscribe_topic(config["capture_topic"], self._on_capture)
        client.set_metadata(METADATA_KEY, config)
        with warnings.catch_warnings():  # replacing a plugin the user registered (upstream's form) is expected
            warnings.simplefilter("ignore", UserWarning)
            client.register_plugin(FlowceptDaskSchedulerAdapter(config=config))
            client.register_plugin(FlowceptDaskWorkerAdapter(config))
        self._drained = False
        self._patch_client_close()
        self.emitter.add_workflow_fields(adapter_id="dask", custom_metadata={"dask": self._cluster_info()})

    def _stop(self) -> None:
        if not self._config:  # started without a client: nothing was registered
            return
        self._drain()
        client, config = self.client, self._config
        for name, original in self._patched.items():  # the client's own close/shutdown again
            try:
                if original is None:
                    client.__dict__.pop(name, None)
                else:
                    setattr(client, name, original)
            except Exception:
                pass
        self._patched = {}
        for topic in (config.get("tasks_topic"), config.get("capture_topic")):
            try:
                if topic and _alive(client):
                    client.unsubscribe_topic(topic)
            except Exception:
                pass

    def _drain(self) -> None:
        """Remove the plugins once everything they hold reached this client: the worker plugins send what their
        runs captured and a closed marker, the scheduler plugin its records and a stop marker. Called at stop, and
        by the client's close()/shutdown() while the run is on (so closing the client first loses nothing)."""
        if self._drained:
            return
        self._drained = True
        client, config = self.client, self._config
        timeout = float(self.config_values["stop_timeout_secs"])
        try:
            if _alive(client):
                answers = client.run(_worker_capturing, on_error="return") or {}  # a dying worker: no answer
                capturing = [a for a, on in answers.items() if on is True]
                client.unregister_worker_plugin(WORKER_PLUGIN_NAME)  # workers send the rest, then a closed marker
                client.set_metadata(METADATA_KEY, None)
                marker = f"stop-{config['token']}"
                client.run_on_scheduler(_flush_scheduler_plugin, marker)
                self._wait_for({marker, *(f"closed:{a}" for a in capturing)}, timeout)
                client.unregister_scheduler_plugin(SCHEDULER_PLUGIN_NAME)
        except Exception as e:  # a closed client, a lost scheduler: keep what arrived, never fail the user's stop
            get_logger().warning(f"dask interceptor: the cluster did not answer at stop ({type(e).__name__}: {e}); "
                                 "tasks reported until now are recorded")

    def _patch_client_close(self) -> None:
        """Make the client's close() and shutdown() drain this run first (undone at stop)."""
        client = self.client
        for name in ("close", "shutdown"):
            original = getattr(client, name, None)
            if original is None or getattr(client, "asynchronous", False):
                continue
            self._patched[name] = client.__dict__.get(name)

            def closing(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                self._drain()
                return _original(*args, **kwargs)

            setattr(client, name, closing)

    def _wait_for(self, marks: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._marked:
            while not marks <= self._marks:
                left = deadline - time.monotonic()
                if left <= 0 or not _alive(self.client):
                    get_logger().warning(f"dask interceptor: stopped before {sorted(marks - self._marks)} reported")
                    return
                self._marked.wait(min(left, 0.5))

    # events from the cluster (called on the client's event loop) ---------------------------------------------------
    def _on_tasks(self, event: Any) -> None:
        emitter = self._emitter
        for record in event[1] if isinstance(event, tuple | list) and len(event) == 2 else ():
            if "marker" in record:
                self._mark(record["marker"])
            elif emitter is not None:
                try:
                    emitter.emit_task(**self._task_fields(record))
                except Exception as e:
                    get_logger().error(f"dask interceptor could not record task {record.get('task_id')!r}: "
                                       f"{type(e).__name__}: {e}")

    def _on_capture(self, event: Any) -> None:
        msg = event[1] if isinstance(event, tuple | list) and len(event) == 2 else None
        if isinstance(msg, dict) and "closed" in msg:
            self._mark(f"closed:{msg['closed']}")
            return
        emitter = self._emitter
        if emitter is None or not isinstance(msg, bytes | bytearray):
            return
        try:
            for message in decode_batch(bytes(msg)):
                emitter.emit(message)
        except Exception as e:
            get_logger().error(f"dask interceptor could not deliver messages from a worker: {type(e).__name__}: {e}")

    def _mark(self, mark: str) -> None:
        with self._marked:
            self._marks.add(mark)
            self._marked.notify_all()

    def _task_fields(self, record: dict) -> dict[str, Any]:
        """The task message fields of one scheduler record (joined with its worker record)."""
        try:
            worker = decode_record(record.get("worker"))
        except Exception as e:  # the task is still recorded, from what the scheduler knows
            get_logger().error(f"dask interceptor: the worker's record of task {record.get('task_id')!r} is "
                               f"unreadable ({type(e).__name__}: {e}); its inputs and outputs are not recorded")
            worker = {}
        values = self.config_values
        fields: dict[str, Any] = {
            "task_id": record["task_id"], "status": record["status"], "adapter_id": "dask",
            "activity_id": worker.get("activity_id") or record.get("activity_id") or "dask_task",
            "submitted_at": record.get("submitted_at"), "address": record.get("address"),
            "hostname": worker.get("hostname") or record.get("hostname"), "dependencies": record.get("dependencies"),
            "generated": worker.get("generated"),
        }
        used = worker.get("used")
        if used is None and values["scheduler_should_get_input"] and record.get("scheduler_used"):
            used = decode_record(record["scheduler_used"])
        fields["used"] = used
        first, second = (worker, record) if values["worker_create_timestamps"] else (record, worker)
        for key in ("started_at", "ended_at"):
            fields[key] = first.get(key) if first.get(key) is not None else second.get(key)
        if record["status"] == Status.ERROR:
            fields["stderr"] = worker.get("stderr") or record.get("stderr")
            meta = {"traceback": worker.get("traceback") or record.get("traceback")}
            if record.get("cancelled"):
                meta["dask_state"] = "cancelled"
            fields["custom_metadata"] = {k: v for k, v in meta.items() if v}
        return fields

    def _settings_tree(self) -> dict:
        settings = self.settings
        if settings is None:
            from flowcept_core.plugin import get_settings

            settings = get_settings()
        return settings.redacted()  # what workers need; credentials stay on the client

    def _cluster_info(self) -> dict[str, Any]:
        try:
            info = self.client.scheduler_info(n_workers=-1)
        except TypeError:
            info = self.client.scheduler_info()
        except Exception as e:
            return {"error": f"{type(e).__name__}: {e}"}
        workers = [{"address": addr, "host": w.get("host"), "name": str(w.get("name")), "nthreads": w.get("nthreads")}
                   for addr, w in (info.get("workers") or {}).items()]
        return {"scheduler_address": info.get("address"), "n_workers": len(workers),
                "total_threads": sum(int(w["nthreads"] or 0) for w in workers), "workers": workers}


def _alive(client: Any) -> bool:
    return client is not None and getattr(client, "status", None) == "running"


def _worker_capturing(dask_worker: Any = None) -> bool:
    plugin = (getattr(dask_worker, "plugins", None) or {}).get(WORKER_PLUGIN_NAME)
    return getattr(plugin, "_capture", None) is not None


def _flush_scheduler_plugin(marker: str, dask_scheduler: Any = None) -> bool:
    plugin = (getattr(dask_scheduler, "plugins", None) or {}).get(SCHEDULER_PLUGIN_NAME)
    if plugin is None:
        return False
    plugin.flush(final=True, marker=marker)
    return True
