"""Flowcept: the controller users start and stop (context manager or start()/stop()).

start(): read settings, open the MQ (online mode), build the Run, start interceptors (``instrumentation`` routes
decorated calls into the run), start the telemetry sampler, emit the workflow message.
stop(): stop interceptors, flush and deliver everything, end-of-stream marker, dump the buffer file if enabled.
"""

from __future__ import annotations

import atexit
import os
import threading
from time import time
from typing import TYPE_CHECKING, Any

from flowcept_core.capture.context import error_text
from flowcept_core.logger import get_logger

if TYPE_CHECKING:
    from collections.abc import Iterator

    from flowcept_core.buffer import Run
    from flowcept_core.settings import Settings

__all__ = ["Flowcept"]

_started: set = set()  # strong refs: a started Flowcept nobody holds must still be stopped at exit


class _DBProperty:
    """``Flowcept.db``: the query API (works on the class and on instances)."""

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        from flowcept_core.query import DBAPI

        return DBAPI()


class _BufferProperty:
    """``Flowcept.buffer``: get_buffer() of this instance, or on the class of the Flowcept started last and still
    running (None when none is)."""

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            obj = next((fc for fc in list(_started) if fc.current_workflow_id == Flowcept.current_workflow_id), None)
        return None if obj is None or obj._run is None else obj.get_buffer()


class Flowcept:
    """Main controller. One instance per workflow run; nest instances for sub-workflows."""

    current_workflow_id: str | None = None
    campaign_id: str | None = None
    db = _DBProperty()
    buffer = _BufferProperty()

    def __init__(self, interceptors: list[str] | str | None = None, bundle_exec_id: str | None = None,
                 campaign_id: str | None = None, workflow_id: str | None = None, workflow_name: str | None = None,
                 workflow_description: str | None = None, workflow_subtype: str | None = None,
                 workflow_args: dict | None = None, agent_id: str | None = None, agent_name: str | None = None,
                 parent_workflow_id: str | None = None, start_persistence: bool = True,
                 check_safe_stops: bool = True, save_workflow: bool = True, delete_buffer_file: bool | None = None,
                 *args: Any, **kwargs: Any):
        from flowcept_core.interceptors import normalize_interceptors

        interceptors = normalize_interceptors(interceptors)  # names and interceptor objects; TypeError otherwise
        if workflow_args is not None and not isinstance(workflow_args, dict):
            raise TypeError(f"workflow_args={workflow_args!r} must be a dict")
        self._interceptor_names = interceptors
        self.bundle_exec_id = bundle_exec_id or str(id(self))
        from flowcept_core.ids import new_uuid

        self.current_workflow_id = workflow_id or new_uuid()
        self.campaign_id = campaign_id or new_uuid()
        self.workflow_name = workflow_name
        self.workflow_subtype = workflow_subtype
        self.workflow_args = workflow_args
        self.agent_id = agent_id
        self.agent_name = agent_name  # recorded in the workflow message (agent_name)
        self.workflow_description = workflow_description  # recorded as the workflow's description
        self.parent_workflow_id = parent_workflow_id
        self.start_persistence = start_persistence
        self.check_safe_stops = check_safe_stops
        self._save_workflow = bool(kwargs.pop("save_workflows", save_workflow))
        self._delete_buffer_file = delete_buffer_file
        from flowcept_core.interceptors import accepted_kwargs

        self._adapter_kwargs = accepted_kwargs(interceptors, args, kwargs)  # TypeError for unknown ones
        self._settings: Settings | None = None
        self._run: Run | None = None
        self._interceptors: list[Any] = []
        self._sampler: Any = None
        self._init_thread: threading.Thread | None = None
        self._workflow_msg: dict | None = None
        self._inserter: Any = None
        self._consumers: list[Any] = []
        self._error: str | None = None
        self._lock = threading.Lock()
        self.is_started = False

    # lifecycle ------------------------------------------------------------------------
    def start(self) -> Flowcept:
        """Start capture; returns self. Raises a specific error for bad settings or an unknown MQ/interceptor."""
        with self._lock:
            if self.is_started:
                get_logger().warning(f"Flowcept for workflow {self.current_workflow_id} is already started")
                return self
            from flowcept_core.logger import configure_logging
            from flowcept_core.settings import get_settings

            settings = self._settings = get_settings()
            configure_logging(settings.section("log"))
            self._prepare_buffer_file(settings)
            # With the defaults, what start() would wait for (plugin discovery, the MQ, opening LMDB, the
            # DocumentInserter, telemetry's first reading, machine info) is done by the start-up thread; an MQ or a
            # store named in a settings file (or the environment) is opened here, so its errors reach the caller.
            defer = not _explicit_delivery(settings)
            run = self._build_run(settings, open_sink=not defer)
            self._run = run
            try:
                self._start_interceptors(settings, run)
                if not defer:
                    self._start_persistence(settings, run)
            except BaseException:  # undo what started, so decorated calls do not feed a dead run
                for interceptor in reversed(self._interceptors):
                    interceptor.stop()
                self._interceptors = []
                run.close(0)
                self._run = None
                raise
            run.hold()  # nothing is taken off the buffer until the start-up thread is done
            started_at = time()
            if self._save_workflow:  # first in the buffer; its fields are filled by the start-up thread
                self._workflow_msg = {}
                run.track(self._workflow_msg)
                run.emit(self._workflow_msg)
            self._init_thread = threading.Thread(target=self._finish_start, args=(settings, run, defer, started_at),
                                                 name="flowcept-start", daemon=True)
            self._init_thread.start()
            Flowcept.current_workflow_id = self.current_workflow_id
            Flowcept.campaign_id = self.campaign_id
            self.is_started = True
            _started.add(self)
            _stop_on_sigterm()
        return self

    def _build_run(self, settings: Settings, open_sink: bool = True) -> Run:
        """The run; its MQ is opened here (open_sink) or by the start-up thread (_open_sink)."""
        from flowcept_core.buffer import Run

        dump = bool(settings.get("project.dump_buffer.enabled"))
        # the buffer file's messages are spooled beside it as they drain, and the spool becomes it at stop
        spool_dir = os.path.dirname(os.path.abspath(self._dump_path())) if dump else None
        run = Run(workflow_id=self.current_workflow_id, campaign_id=self.campaign_id,
                  workflow_name=self.workflow_name, settings=settings, retain=(not _online(settings)) or dump,
                  spool_dir=spool_dir)
        if open_sink:
            self._open_sink(settings, run)
        return run

    @staticmethod
    def _open_sink(settings: Settings, run: Run) -> None:
        if _online(settings):
            from flowcept_core.mq import open_mq

            run.attach_sink(open_mq(settings))

    def _start_telemetry(self, settings: Settings, run: Run) -> None:
        """The telemetry sampler (its first reading is taken here); tasks that ended before it take that reading."""
        from flowcept_core.telemetry import TelemetryConfig, TelemetrySampler

        tel_cfg = TelemetryConfig.from_settings(settings.section("telemetry_capture"))
        run.telemetry_cfg = tel_cfg
        if tel_cfg.enabled:
            sampler = TelemetrySampler(tel_cfg)
            sampler.start()
            self._sampler = run.telemetry = sampler

    def _start_persistence(self, settings: Settings, run: Run) -> None:
        """Online with a store enabled: make sure the persistence group exists before anything is published (a late
        DocumentInserter still gets everything), and start this process's inserter if start_persistence."""
        if run.sink is None:
            return
        if self.start_persistence:
            self._start_custom_consumers(settings)
        from flowcept_core.stores import enabled_store_names

        if not enabled_store_names(settings):
            return
        from flowcept_core.consumers.document_inserter import acquire_inserter, persistence_group

        run.sink.ensure_group(persistence_group(settings))
        if self.start_persistence:
            self._inserter = acquire_inserter(settings, daemon=self.check_safe_stops)
            if not self.check_safe_stops:  # the seeds' persistence-only process: its producers run elsewhere
                from flowcept_core.health import warn_if_unreachable

                warn_if_unreachable(settings, "Flowcept(start_persistence=True, check_safe_stops=False)", False)

    def _start_custom_consumers(self, settings: Settings) -> None:
        """Consumers registered by plugins (hook flowcept_consumers) and named in plugins.consumers."""
        from flowcept_core.registry import get_registry

        for name in settings.get("plugins.consumers") or []:
            consumer = get_registry().resolve("consumer", name).factory(settings)
            consumer.start(daemon=True)
            self._consumers.append(consumer)

    def _finish_start(self, settings: Settings, run: Run, persistence: bool, started_at: float) -> None:
        """The start-up thread: first telemetry reading, persistence (default store), the workflow message's
        system fields, then the flusher. Decorated calls are captured meanwhile; they wait in the buffer."""
        try:
            from flowcept_core.registry import get_registry
            from flowcept_core.sysinfo import host_fields

            run.set_host_fields(host_fields())
            try:
                get_registry().ensure_loaded()  # plugin discovery, left out of start()
            except Exception as e:
                get_logger().error(f"loading plugins failed: {error_text(e)}")
            try:
                self._start_telemetry(settings, run)
            except Exception as e:
                get_logger().error(f"telemetry could not start: {error_text(e)}")
            if persistence:
                try:
                    self._open_sink(settings, run)
                    self._start_persistence(settings, run)
                except Exception as e:
                    get_logger().error(f"persistence could not start ({error_text(e)}); the run is captured in the "
                                       "buffer file but not stored")
            if self._workflow_msg is not None:
                try:
                    self._workflow_msg.update(self._workflow_message(settings, run, started_at))
                except Exception as e:
                    get_logger().error(f"could not build the workflow message: {error_text(e)}")
                    self._workflow_msg.update({"type": "workflow", "workflow_id": self.current_workflow_id,
                                               "campaign_id": self.campaign_id, "started_at": started_at})
            run.start()
        finally:
            run.release()

    def _wait_started(self) -> None:
        thread = self._init_thread
        if thread is not None:
            thread.join()
            self._init_thread = None

    def _stop_persistence(self, settings: Settings, run: Run) -> None:
        for consumer in self._consumers:
            consumer.stop_consumption()
        self._consumers = []
        inserter, self._inserter = self._inserter, None
        if inserter is None:
            return
        from flowcept_core.consumers.document_inserter import release_inserter

        timeout = float(settings.get("mq.stop_timeout_secs", 30))
        if self.check_safe_stops and not inserter.wait_for_producer(run.producer_id, timeout):
            get_logger().error(f"the DocumentInserter did not confirm storing workflow {self.current_workflow_id} "
                               f"within {timeout}s (mq.stop_timeout_secs); what it has not stored stays in the MQ")
        release_inserter(inserter, timeout)

    def _start_interceptors(self, settings: Settings, run: Run) -> None:
        from flowcept_core.interceptors import start_interceptors

        start_interceptors(self, settings, run)

    def stop(self) -> None:
        """Stop capture: flush and deliver everything, then write the buffer file if enabled. Idempotent."""
        with self._lock:
            if not self.is_started:
                return
            self.is_started = False
            _started.discard(self)
            self._wait_started()
            run = self._run
            for interceptor in reversed(self._interceptors):
                try:
                    interceptor.stop()
                except Exception as e:
                    get_logger().error(f"stopping interceptor {getattr(interceptor, 'kind', interceptor)}: {e}")
            self._interceptors = []
            settings = self._settings
            run.drain()  # the MQ sees the workflow start message before its end message
            end_msg = self._workflow_end() if self._save_workflow else None
            undelivered = run.close(settings.get("mq.stop_timeout_secs", 30), final=[end_msg] if end_msg else ())
            if undelivered:
                get_logger().error(f"{undelivered} messages of workflow {self.current_workflow_id} were not "
                                   "acknowledged by the MQ before mq.stop_timeout_secs")
            self._stop_persistence(settings, run)
            if self._sampler is not None:
                self._sampler.stop()
            if settings.get("project.dump_buffer.enabled"):
                try:
                    run.dump(self._dump_path(), final=True)
                except OSError as e:
                    get_logger().error(f"could not write the buffer file {self._dump_path()}: {e}")

    def __enter__(self) -> Flowcept:
        return self.start()

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> bool:
        if exc_val is not None:
            self._error = self._error or error_text(exc_val)  # a signal handler may have said why first
        self.stop()
        return False

    # workflow messages --------------------------------------------------------------------
    def _workflow_message(self, settings: Settings, run: Run, started_at: float | None = None) -> dict:
        from flowcept_core.sysinfo import workflow_system_fields

        msg: dict[str, Any] = {"type": "workflow", "workflow_id": self.current_workflow_id,
                               "campaign_id": self.campaign_id, "started_at": started_at or time(),
                               "status": "RUNNING"}
        for key, value in (("name", self.workflow_name), ("subtype", self.workflow_subtype),
                           ("used", self.workflow_args), ("parent_workflow_id", self.parent_workflow_id),
                           ("agent_id", self.agent_id), ("agent_name", self.agent_name),
                           ("description", self.workflow_description)):
            if value is not None:
                msg[key] = value
        msg["utc_timestamp"] = msg["started_at"]
        msg["interceptor_ids"] = [f"{getattr(i, 'kind', type(i).__name__)}_{self.bundle_exec_id}"
                                  for i in self._interceptors]
        msg["conf"] = {"settings_path": settings.source}
        msg["flowcept_settings"] = settings.redacted()
        from flowcept_core import __version__

        msg["flowcept_version"] = __version__
        msg.update(workflow_system_fields(settings.section("sys_metadata"), settings.get("extra_metadata"), run.limits))
        # machine_info is part of the workflow schema: on unless telemetry_capture.machine_info is false
        if settings.section("telemetry_capture").get("machine_info", True) is not False:
            from flowcept_core.telemetry import TelemetryConfig, machine_info

            msg["machine_info"] = machine_info(run.telemetry_cfg or TelemetryConfig())
        return msg

    def _emit_workflow_start(self, settings: Settings, run: Run) -> None:
        try:
            self._workflow_msg = self._workflow_message(settings, run)
            run.track(self._workflow_msg)
            run.emit(self._workflow_msg)
        except Exception as e:
            get_logger().error(f"could not build the workflow message: {error_text(e)}")

    def _workflow_end(self) -> dict | None:
        """Mark the retained workflow message finished; return the end message for the MQ."""
        if self._workflow_msg is None:
            return None
        status = "ERROR" if self._error else "FINISHED"
        end = {"ended_at": time(), "status": status}
        if self._error:
            end["stderr"] = self._error
        self._run.update_message(self._workflow_msg, end)
        return {"type": "workflow", "workflow_id": self.current_workflow_id, **end}

    def save_workflow(self, interceptor: str | None = None, interceptor_instance: Any = None) -> None:
        """Emit this workflow's metadata message now (start() does it when save_workflow=True)."""
        if self._run is None:
            raise RuntimeError("save_workflow() needs a started Flowcept; call start() first")
        self._emit_workflow_start(self._settings, self._run)

    # buffer --------------------------------------------------------------------------------
    def _dump_path(self, path: str | None = None) -> str:
        from flowcept_core.files import dump_path
        from flowcept_core.settings import get_settings

        settings = self._settings or get_settings()
        # the suffix settings apply to a given path too: processes dumping to one name get one file each
        base = path or settings.get("project.dump_buffer.path") or "flowcept_buffer.jsonl"
        producer = self._run.producer_id if self._run is not None else None
        return dump_path(base, producer, self.current_workflow_id,
                         bool(settings.get("project.dump_buffer.append_id_to_path")),
                         bool(settings.get("project.dump_buffer.append_workflow_id_to_path")))

    def _prepare_buffer_file(self, settings: Settings) -> None:
        delete = self._delete_buffer_file
        if delete is None:
            delete = settings.get("project.dump_buffer.enabled") and \
                settings.get("project.dump_buffer.delete_previous_file", False)
        if delete:
            from flowcept_core.files import delete_file

            delete_file(self._dump_path())

    def get_buffer(self, return_df: bool = False) -> Any:
        """Messages captured by this run and kept in memory (a list of dicts, or a DataFrame with dotted columns)."""
        msgs = self._run.snapshot() if self._run is not None else []
        if return_df:
            from flowcept_core.files import to_dataframe

            return to_dataframe(msgs)
        return msgs

    def dump_buffer(self, path: str | None = None) -> None:
        """Write the in-memory buffer to path (default: project.dump_buffer.path) as JSONL, overwriting it. With
        project.dump_buffer.append_workflow_id_to_path / append_id_to_path, _<workflow id> / _<producer id> is added
        to the file name (as for the file stop() writes), so processes dumping to one path do not overwrite each
        other."""
        if self._run is None:
            raise RuntimeError("dump_buffer() needs a started Flowcept; nothing was captured yet")
        n = self._run.dump(self._dump_path(path))
        get_logger().debug(f"dumped {n} messages to {self._dump_path(path)}")

    @staticmethod
    def read_buffer_file(file_path: str | None = None, return_df: bool = False, normalize_df: bool = False,
                         consolidate: bool = False, workflow_id: str | None = None,
                         cleanup_files: bool = True) -> Any:
        """Read a JSONL buffer file as a list of dicts (or a DataFrame; normalize_df gives dotted columns).

        The list takes about 3x the file's size in memory (a dict per message); iter_buffer_file streams instead.
        """
        from flowcept_core.files import consolidate_files, read_jsonl, to_dataframe

        path = _buffer_file_path(file_path)
        if consolidate:
            path = consolidate_files(path, workflow_id, cleanup_files)
        if not os.path.exists(path):
            raise FileNotFoundError(f"buffer file {path} does not exist")
        msgs = read_jsonl(path)
        if return_df:
            return to_dataframe(msgs, normalize=normalize_df)
        return msgs

    @staticmethod
    def iter_buffer_file(file_path: str | None = None) -> Iterator[dict]:
        """The messages of a JSONL buffer file one at a time, read a block of lines at a time: memory stays at one
        block whatever the file's size. Blank lines are skipped; a malformed line raises naming its number."""
        from itertools import chain

        from flowcept_core.files import iter_jsonl

        path = _buffer_file_path(file_path)
        if not os.path.exists(path):  # said at the call, not at the first next()
            raise FileNotFoundError(f"buffer file {path} does not exist")
        return chain.from_iterable(iter_jsonl(path))

    read_messages_file = read_buffer_file

    @staticmethod
    def generate_report(report_type: str = "provenance_card", format: str = "markdown", print_markdown: bool = False,
                        output_path: str | None = None, input_jsonl_path: str | None = None,
                        records: list[dict[str, Any]] | None = None, workflow_id: str | None = None,
                        campaign_id: str | None = None) -> dict[str, Any]:
        """Write a provenance card (Markdown) or report (PDF) from a JSONL file, records or the database; returns
        its metadata. See flowcept_core.report.generate_report for the inputs, the result and the errors."""
        from flowcept_core.report import generate_report

        return generate_report(report_type, format, print_markdown, output_path, input_jsonl_path, records,
                               workflow_id, campaign_id)

    @staticmethod
    def start_consumption_services(bundle_exec_id: str | None = None, check_safe_stops: bool = False,
                                   consumers: list | None = None) -> None:
        """Run the DocumentInserter in this thread (blocking) until it is stopped or the process is killed.

        consumers: at most one consumer class (a BaseConsumer subclass) to run instead of the DocumentInserter.
        """
        from flowcept_core.consumers.document_inserter import DocumentInserter
        from flowcept_core.logger import configure_logging
        from flowcept_core.settings import get_settings

        if consumers and len(consumers) > 1:
            raise NotImplementedError(f"only one consumer type can be started here, got {len(consumers)}")
        settings = get_settings()
        configure_logging(settings.section("log"))
        from flowcept_core.health import warn_if_unreachable

        warn_if_unreachable(settings, "start_consumption_services()")
        consumer = consumers[0]() if consumers else DocumentInserter(settings)
        consumer.start(threaded=False)

    @staticmethod
    def delete_buffer_file(path: str | None = None) -> None:
        """Delete the buffer file (default: project.dump_buffer.path) if it exists; the memory buffer is kept."""
        from flowcept_core.files import delete_file
        from flowcept_core.settings import get_settings

        delete_file(path or get_settings().get("project.dump_buffer.path") or "flowcept_buffer.jsonl")

    @staticmethod
    def services_alive() -> bool:
        """True when the configured MQ (online mode) and every enabled store answer; logs each service that is
        down and why (services_status() returns the detail)."""
        status = Flowcept.services_status()
        for name, (ok, detail) in status.items():
            (get_logger().info if ok else get_logger().error)(f"service {name}: {detail}")
        return all(ok for ok, _ in status.values())

    @staticmethod
    def services_status() -> dict[str, tuple[bool, str]]:
        """{service: (alive, detail)}, e.g. {"mq:redis": (False, "MQConnectionError: ..."), "store:lmdb": (True,
        "alive")}: why each service the settings name is down. Starts nothing; never raises."""
        from flowcept_core.health import services_status
        from flowcept_core.logger import configure_logging
        from flowcept_core.settings import get_settings

        settings = get_settings()
        configure_logging(settings.section("log"))  # so the log lines of services_alive() show before start()
        return services_status(settings)


def _online(settings: Settings) -> bool:
    return settings.get("project.db_flush_mode") == "online" and bool(settings.get("mq.enabled", True))


def _explicit_delivery(settings: Settings) -> bool:
    """True when a settings file or the environment names the MQ or enables a store: opening them at start() lets
    their errors reach the caller."""
    is_explicit = getattr(settings, "is_explicit", None)
    if is_explicit is None or (_online(settings) and is_explicit("mq.type")):
        return True
    dbs = settings.section("databases")
    return any(isinstance(sec, dict) and sec.get("enabled") and is_explicit(f"databases.{name}.enabled")
               for name, sec in dbs.items())


def _buffer_file_path(file_path: str | None) -> str:
    from flowcept_core.settings import get_settings

    path = file_path or get_settings().get("project.dump_buffer.path")
    if not path:  # AssertionError as documented, also under python -O
        raise AssertionError("no file_path given and project.dump_buffer.path is not set")
    return path


def _stop_on_sigterm() -> None:
    """Make SIGTERM (what job schedulers and kill send) exit through atexit, so running Flowcepts are stopped and
    nothing captured is lost. Installed only from the main thread and only over the default action."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _exit_on_sigterm)
    except (ValueError, OSError):  # not supported here (e.g. an embedded interpreter)
        pass


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    import sys

    for fc in list(_started):  # the workflows did not finish: say so in their records
        fc._error = fc._error or f"terminated by signal {signum} (SIGTERM)"
    sys.exit(128 + signum)


@atexit.register
def _stop_forgotten() -> None:
    """A Flowcept started and never stopped is stopped at exit, so its messages are delivered and dumped."""
    for fc in list(_started):
        try:
            fc.stop()
        except Exception as e:
            get_logger().error(f"stopping Flowcept at exit failed: {e}")
