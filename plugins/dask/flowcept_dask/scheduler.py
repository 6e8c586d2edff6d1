"""FlowceptDaskSchedulerAdapter: the scheduler plugin. Runs in the scheduler process.

It notes when each task was submitted (``update_graph``), and when a task reaches its final state (memory, erred,
or forgotten before either: cancelled) it makes the task's final record: status, times, the worker, the keys it
depends on, the worker's record (inputs, outputs, host) and, for errors, the exception and traceback. A retried task
is recorded when its last attempt ends; a task whose worker died is recorded when it ends elsewhere.

Live states: a task still waiting when the next batch leaves gets a SUBMITTED record (submitted_at, dependencies,
scheduler-side inputs), and the RUNNING records the worker plugins send (tasks still executing when their batch
left the worker) are passed on. A task that ends before its batch leaves gets its final record only, so short tasks
cost no extra message; the store merges the records of one task_id into one document. Records are sent to the
client in batches, every ``flush_interval_secs``, as one event on the run's task topic.
"""

from __future__ import annotations

import time
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

from flowcept_core.plugin import Status
from flowcept_dask.records import (
    ERRORS_TOPIC,
    METADATA_KEY,
    RUNNING_TOPIC,
    SCHEDULER_PLUGIN_NAME,
    encode_record,
    function_name,
    task_id_of,
)

__all__ = ["FlowceptDaskSchedulerAdapter"]

_BATCH = 2000  # records per event at most

_SUBMITTED, _RUNNING = Status.SUBMITTED.value, Status.RUNNING.value
_FINISHED, _ERROR = Status.FINISHED.value, Status.ERROR.value


class FlowceptDaskSchedulerAdapter(SchedulerPlugin):
    """The scheduler plugin. ``Flowcept(interceptors=["dask"], dask_client=client)`` registers a configured one.

    Upstream's forms work too: ``client.register_plugin(FlowceptDaskSchedulerAdapter())`` and
    ``scheduler.add_plugin(FlowceptDaskSchedulerAdapter(scheduler))``; such a plugin reads the active run's
    configuration from the scheduler's metadata and records nothing while no run is active.
    """

    name = SCHEDULER_PLUGIN_NAME
    idempotent = False

    def __init__(self, scheduler: Any = None, config: dict | None = None):
        self.config = config
        self.scheduler = scheduler if not isinstance(scheduler, dict) else None
        if isinstance(scheduler, dict) and config is None:
            self.config = scheduler
        self._reset()

    def _reset(self) -> None:
        self._submitted: dict[Any, float] = {}
        self._new: list[Any] = []  # keys submitted since the last batch left
        self._errors: dict[str, bytes] = {}
        self._out: list[dict] = []
        self._callback: Any = None

    def __getstate__(self) -> dict:
        return {"config": self.config}

    def __setstate__(self, state: dict) -> None:
        self.__init__(None, state.get("config"))

    # Dask calls these ----------------------------------------------------------------------------------------------
    async def start(self, scheduler: Any) -> None:
        """Called when the plugin is added to a running scheduler."""
        from tornado.ioloop import PeriodicCallback

        self.scheduler = scheduler
        interval = float((self._config() or {}).get("flush_interval_secs") or 0.1)
        self._callback = PeriodicCallback(self.flush, interval * 1000)
        self._callback.start()

    async def before_close(self) -> None:
        """Called before the scheduler shuts down (client.shutdown()): send what is held."""
        self.flush(final=True)

    def update_graph(self, scheduler: Any, *, keys: Any = (), tasks: Any = (), **kwargs: Any) -> None:
        config = self._config()
        if config is None:
            return
        now = time.time()
        submitted = self._submitted
        if config.get("scheduler_should_send_submitted", True):
            new = self._new
            for key in tasks or keys:
                if key not in submitted:
                    submitted[key] = now
                    new.append(key)
        else:
            for key in tasks or keys:
                if key not in submitted:
                    submitted[key] = now

    def transition(self, key: Any, start: str, finish: str, *args: Any, stimulus_id: str = "",
                   **kwargs: Any) -> None:
        if finish == "memory":
            if start == "processing":
                self._ended(key, _FINISHED, kwargs)
        elif finish == "erred":
            self._ended(key, _ERROR, kwargs)
        elif finish == "forgotten" and key in self._submitted:
            self._ended(key, _ERROR, kwargs, cancelled=True)

    def log_event(self, topic: str, msg: Any) -> None:
        if topic == ERRORS_TOPIC and isinstance(msg, dict):
            self._errors[msg.get("task_id")] = msg.get("record")
        elif topic == RUNNING_TOPIC and isinstance(msg, dict):
            self._running(msg)

    # records -------------------------------------------------------------------------------------------------------
    def _config(self) -> dict | None:
        if self.config is None and self.scheduler is not None:
            try:  # a plugin registered without configuration follows the active run (see the interceptor)
                return self.scheduler.get_metadata(keys=[METADATA_KEY], default=None)
            except Exception:
                return None
        return self.config

    def _ended(self, key: Any, status: str, kwargs: dict, cancelled: bool = False) -> None:
        """Make the one record of a task that reached its final state; never raises."""
        try:
            config = self._config()
            if config is None:
                return
            submitted = self._submitted.pop(key, None)
            ts = self.scheduler.tasks.get(key) if self.scheduler is not None else None
            task_id = key if type(key) is str else str(key)
            record: dict[str, Any] = {"task_id": task_id, "status": status}
            if submitted is not None:
                record["submitted_at"] = submitted
            if ts is not None:
                record["activity_id"] = _activity_of(ts)
                if ts.dependencies:
                    record["dependencies"] = [d.key if type(d.key) is str else str(d.key) for d in ts.dependencies]
                if status == _FINISHED and ts.metadata:
                    blob = ts.metadata.pop("flowcept", None)
                    if blob is not None:
                        record["worker"] = blob
            worker = kwargs.get("worker")
            if worker:
                record["address"] = worker
            if status == _ERROR:
                blob = self._errors.pop(task_id, None)
                if blob is not None:
                    record["worker"] = blob
                if cancelled:
                    record["stderr"] = "CancelledError: the task was released before it finished"
                    record["cancelled"] = True
                else:
                    record["stderr"] = _error_text(ts, kwargs)
                    if kwargs.get("traceback_text"):
                        record["traceback"] = kwargs["traceback_text"]
            else:
                self._errors.pop(task_id, None)  # an earlier attempt's error: the task was retried
            compute = [s for s in kwargs.get("startstops") or () if s.get("action") == "compute"]
            if compute:
                record["started_at"], record["ended_at"] = compute[-1]["start"], compute[-1]["stop"]
            if ts is not None and "worker" not in record and config.get("scheduler_should_get_input"):
                used = _literal_inputs(ts)
                if used:
                    record["scheduler_used"] = encode_record(used)
            self._out.append(record)
            if len(self._out) >= _BATCH:
                self.flush()
        except Exception as e:
            from flowcept_core.plugin import get_logger

            get_logger().error(f"flowcept could not record Dask task {key!r}: {type(e).__name__}: {e}")

    def _running(self, msg: dict) -> None:
        """RUNNING records from a worker plugin (tasks executing when the worker's batch left); never raises."""
        try:
            if self._config() is None:
                return
            address = msg.get("worker")
            for record in msg.get("running") or ():
                record["status"] = _RUNNING
                if address:
                    record["address"] = address
                self._out.append(record)
        except Exception as e:
            from flowcept_core.plugin import get_logger

            get_logger().error(f"flowcept could not record running Dask tasks: {type(e).__name__}: {e}")

    def _submitted_records(self, config: dict) -> list[dict]:
        """SUBMITTED records of the tasks submitted since the last batch that have not ended yet."""
        new, self._new = self._new, []
        submitted = self._submitted
        tasks = self.scheduler.tasks if self.scheduler is not None else {}
        get_input = config.get("scheduler_should_get_input")
        out = []
        for key in new:
            at = submitted.get(key)
            if at is None:  # ended already: its final record says everything
                continue
            record: dict[str, Any] = {"task_id": task_id_of(key), "status": _SUBMITTED, "submitted_at": at}
            ts = tasks.get(key)
            if ts is not None:
                try:
                    record["activity_id"] = _activity_of(ts)
                    if ts.dependencies:
                        record["dependencies"] = [task_id_of(d.key) for d in ts.dependencies]
                    if get_input:
                        used = _literal_inputs(ts)
                        if used:
                            record["scheduler_used"] = encode_record(used)
                except Exception as e:
                    from flowcept_core.plugin import get_logger

                    get_logger().error(f"flowcept could not describe Dask task {key!r}: {type(e).__name__}: {e}")
            out.append(record)
        return out

    def flush(self, final: bool = False, marker: str | None = None) -> None:
        """Send the records held (and, final, the tasks not ended yet with their current status; marker: a record
        telling the client that everything before it was sent). Called on the scheduler's event loop."""
        config = self._config()
        if self._new:
            if config is None:
                self._new = []
            else:  # before the RUNNING and final records that came after them
                self._out[:0] = self._submitted_records(config)
        if final and config is not None:
            for key in list(self._submitted):
                self._out.append(self._unfinished(key))
            self._submitted.clear()
            self._errors.clear()
        if final and self._callback is not None:
            self._callback.stop()
            self._callback = None
        if marker is not None:
            self._out.append({"marker": marker})
        if not self._out or config is None or self.scheduler is None:
            return
        batch, self._out = self._out, []
        try:
            self.scheduler.log_event(config["tasks_topic"], batch)
        except Exception as e:
            from flowcept_core.plugin import get_logger

            get_logger().error(f"flowcept could not send {len(batch)} Dask task records: {type(e).__name__}: {e}")

    def _unfinished(self, key: Any) -> dict:
        ts = self.scheduler.tasks.get(key) if self.scheduler is not None else None
        record: dict[str, Any] = {"task_id": key if type(key) is str else str(key), "status": _SUBMITTED}
        if ts is not None:
            record["activity_id"] = _activity_of(ts)
            if ts.state == "processing" and ts.processing_on is not None:
                record["status"], record["address"] = _RUNNING, ts.processing_on.address
        return record


def _activity_of(ts: Any) -> str:
    func = getattr(ts.run_spec, "func", None)
    return function_name(func, ts.key) if func is not None else ts.prefix.name


def _error_text(ts: Any, kwargs: dict) -> str:
    text = kwargs.get("exception_text") or (getattr(ts, "exception_text", "") if ts is not None else "")
    blame = getattr(ts, "exception_blame", None) if ts is not None else None
    if not text and blame is not None:
        text = f"a task it depends on failed ({blame.key}): {blame.exception_text}"
    return text or "the task failed"


def _literal_inputs(ts: Any) -> dict | None:
    """The task's arguments as the scheduler sees them (keys of dependencies stand for their values)."""
    spec = ts.run_spec
    func = getattr(spec, "func", None)
    if func is None:
        return None
    from dask._task_spec import DataNode, TaskRef

    from flowcept_dask.records import inputs_by_name

    def plain(a: Any) -> Any:
        if isinstance(a, TaskRef):
            return f"<result of {a.key}>"
        if isinstance(a, DataNode):
            return a.value
        return a if not hasattr(a, "dependencies") else repr(a)

    return inputs_by_name(func, tuple(plain(a) for a in spec.args), {k: plain(v) for k, v in spec.kwargs.items()})
