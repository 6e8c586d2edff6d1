"""Flowcept: the controller users start and stop (context manager or start()/stop()).

start(): read settings, open the MQ (online mode), build the Run, start interceptors (``instrumentation`` routes
decorated calls into the run), start the telemetry sampler, emit the workflow message.
stop(): stop interceptors, flush and deliver everything, end-of-stream marker, dump the buffer file if enabled.
"""

from __future__ import annotations

import os
import threading
from time import time

from flowcept_core.capture.context import error_text
from flowcept_core.lifecycle import _started, _stop_forgotten, _stop_on_sigterm  # noqa: F401 (read by name)
from flowcept_core.logger import get_logger
from flowcept_core.runtime import RUNTIME
from flowcept_core.startup import StartThread, Startup
from flowcept_core.workflow_record import WorkflowRecord

TYPE_CHECKING = False  # typing is not imported at run time: it costs more than the rest of `import flowcept`
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from flowcept_core.buffer import Run
    from flowcept_core.settings import Settings

__all__ = ["Flowcept"]



class _DBProperty:
    """``Flowcept.db``: the query API (works on the class and on instances)."""

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        from flowcept_core.query import DBAPI

        return DBAPI(obj._given_settings if obj is not None else None)


class _BufferProperty:
    """``Flowcept.buffer``: get_buffer() of this instance, or on the class of the Flowcept started last and still
    running (None when none is)."""

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            current = RUNTIME.current_workflow_id
            obj = next((fc for fc in list(_started) if fc.current_workflow_id == current), None)
        return None if obj is None or obj._run is None else obj.get_buffer()


class Flowcept(Startup, WorkflowRecord):
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
                 *args: Any, settings: Settings | None = None, **kwargs: Any):
        """``settings``: a Settings object (``flowcept_core.settings.load_settings(path)``) this run uses instead of
        the process settings (settings.yaml and FLOWCEPT_* variables); its queries (``fc.db``) use it too."""
        from flowcept_core.interceptors import normalize_interceptors

        if settings is not None:
            from flowcept_core.settings import Settings

            if not isinstance(settings, Settings):
                raise TypeError(f"Flowcept(settings={settings!r:.80}): expected a flowcept Settings object "
                                "(flowcept_core.settings.load_settings(path)) or None for the process settings")
        self._given_settings = settings

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

        self._adapter_kwargs = accepted_kwargs(interceptors, args, kwargs, settings)  # TypeError for unknown ones
        self._settings: Settings | None = None
        self._run: Run | None = None
        self._interceptors: list[Any] = []
        self._sampler: Any = None
        self._init_thread: StartThread | None = None
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

            settings = self._settings = self._given_settings or get_settings()
            configure_logging(settings.section("log"))
            self._prepare_buffer_file(settings)
            # With the defaults, what start() would wait for (plugin discovery, the MQ, opening LMDB, the
            # DocumentInserter, telemetry's first reading, machine info) is done by the start-up thread; an MQ or a
            # store named in a settings file (or the environment) is opened here, so its errors reach the caller.
            defer = self._defers_start(settings)
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
            self._init_thread = StartThread(self._finish_start, settings, run, defer, started_at)
            RUNTIME.current_workflow_id = Flowcept.current_workflow_id = self.current_workflow_id  # class: seeds' API
            Flowcept.campaign_id = self.campaign_id
            self.is_started = True
            _started.add(self)
            _stop_on_sigterm()
        return self

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
    def _dump_path(self, path: str | None = None) -> str:
        from flowcept_core.files import dump_path
        from flowcept_core.settings import get_settings

        settings = self._settings or self._given_settings or get_settings()
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
            from flowcept_core.dataframes import to_dataframe

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
        from flowcept_core.dataframes import to_dataframe
        from flowcept_core.files import consolidate_files, read_jsonl

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
    def export_prov(output_path: str | None = None, format: str = "json", workflow_id: str | None = None,
                    campaign_id: str | None = None, input_jsonl_path: str | None = None,
                    records: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Write W3C PROV (PROV-JSON, or PROV-N with format="provn") from a JSONL file, records or the database;
        returns its metadata (path and counts). See flowcept_core.prov_export.export_prov."""
        from flowcept_core.prov_export import export_prov

        return export_prov(output_path, format, workflow_id, campaign_id, input_jsonl_path, records)

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
        consumer.start(daemon=True)  # on its thread: Ctrl+C reaches this wait, not the middle of the consumer's loop
        try:
            while consumer.is_running:
                consumer._main_thread.join(0.5)
        except KeyboardInterrupt:  # Ctrl+C ends the service quietly, once it stored what it received
            consumer.stop_consumption(timeout=float(settings.get("mq.stop_timeout_secs", 30)))

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


def _buffer_file_path(file_path: str | None) -> str:
    from flowcept_core.settings import get_settings

    path = file_path or get_settings().get("project.dump_buffer.path")
    if not path:  # AssertionError as documented, also under python -O
        raise AssertionError("no file_path given and project.dump_buffer.path is not set")
    return path


