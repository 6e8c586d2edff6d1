"""Starting a Flowcept run: building the Run, opening the MQ, telemetry, persistence, and the start-up thread that
does with the defaults what start() need not wait for. A mixin of flowcept_core.controller.Flowcept."""

from __future__ import annotations

import os
import threading

from flowcept_core.capture.context import error_text
from flowcept_core.logger import get_logger

TYPE_CHECKING = False  # typing is not imported at run time: it costs more than the rest of `import flowcept`
if TYPE_CHECKING:
    from typing import Any

    from flowcept_core.buffer import Run
    from flowcept_core.settings import Settings

__all__ = ["Startup"]


class Startup:
    """start()'s parts on the controller (it holds the run, the sampler, the inserter and the consumers)."""

    _sampler: Any
    _inserter: Any
    _consumers: list[Any]
    _init_thread: StartThread | None
    _workflow_msg: dict | None

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

    def _defers_start(self, settings: Settings) -> bool:
        """True when start() may leave the MQ and persistence to the start-up thread. Not for a persistence-only
        process (start_persistence=True, check_safe_stops=False): its consumer runs before start() returns, so a
        script that ends right after start() keeps consuming until it is stopped."""
        if self.start_persistence and not self.check_safe_stops:
            return False
        return not _explicit_delivery(settings)

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
            _write_directly(run, self._inserter, persistence_group(settings))
            if not self.check_safe_stops:  # a persistence-only process: its producers run elsewhere
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
            run.start_flusher()  # regulates the backlog meanwhile (hold() began the run regulated)
            from flowcept_core.sysinfo import host_fields

            run.set_host_fields(host_fields())
            try:
                if self._uses_plugins(settings):  # plugin discovery, left out of start(); else done when first asked
                    from flowcept_core.registry import get_registry

                    get_registry().ensure_loaded()
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

    def _uses_plugins(self, settings: Settings) -> bool:
        """Whether this run may need a plugin: an MQ, a store, a consumer or an interceptor besides the built-in one
        (an offline run of decorated functions needs none: discovery would compete with its calls for the CPU)."""
        from flowcept_core.interceptors import BUILTIN, chosen_interceptors

        dbs = settings.section("databases").values()
        return (_online(settings) or bool(settings.get("plugins.consumers"))
                or any(isinstance(sec, dict) and sec.get("enabled") for sec in dbs)
                or chosen_interceptors(self._interceptor_names, settings) != [(BUILTIN, BUILTIN)])

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


def _write_directly(run: Run, inserter: Any, group: str) -> None:
    """In-process MQ and local stores only: the run writes its task records itself (see flowcept_core.direct)."""
    if run.sink.in_process and inserter.stores and all(
            getattr(store, "name", None) == "lmdb" for store in inserter.stores):
        from flowcept_core.direct import DirectStore

        run.direct = DirectStore(inserter, run.sink, group)


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


class StartThread:
    """The start-up thread of a run, started without waiting for it to run (threading.Thread.start waits until the
    new thread is scheduled: milliseconds of start() on a busy machine). join() waits until it is done."""

    def __init__(self, target: Any, *args: Any):
        import _thread

        self._done = threading.Event()
        self._target, self._args = target, args
        _thread.start_new_thread(self._run, ())

    def _run(self) -> None:
        try:
            self._target(*self._args)
        finally:
            self._done.set()

    def join(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)
