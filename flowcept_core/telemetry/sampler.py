"""The background sampler that keeps a current telemetry snapshot, and the cheap per-call reading built on it."""

from __future__ import annotations

import os
import threading

TYPE_CHECKING = False  # typing is not imported at run time: it costs more than the rest of `import flowcept`
if TYPE_CHECKING:  # imported lazily: the decorators import this module for fresh_reading alone
    from typing import Any

    from flowcept_core.telemetry.config import TelemetryConfig

__all__ = ["TelemetrySampler", "fresh_reading"]


try:
    from resource import RUSAGE_SELF, getrusage
except ImportError:  # not on Windows: os.times() (10 ms resolution on some systems)
    getrusage = None


def fresh_reading(sampler: Any) -> tuple:
    """Called at the start and at the end of each ``@telemetry_flowcept_task`` call; returns
    ``(snapshot, user_s, system_s)``: the sampler's current snapshot (None before its first reading or without a
    sampler) and this process's CPU times read now (getrusage: microsecond resolution, all threads of the process).
    One system call; no file is read, nothing is locked.

    The message builder (flowcept_core.telemetry.summary.attach_telemetry) turns two readings into
    ``telemetry_at_start`` / ``telemetry_at_end`` and the task's CPU time in ``telemetry_summary``.
    """
    if getrusage is not None:
        r = getrusage(RUSAGE_SELF)
        return (sampler.snapshot if sampler is not None else None, r.ru_utime, r.ru_stime)
    t = os.times()
    return (sampler.snapshot if sampler is not None else None, t[0], t[1])


class TelemetrySampler:
    """Background sampler: a daemon thread refreshes :attr:`snapshot` every ``interval_secs``.

    ``snapshot`` is replaced as a whole (never mutated), so other threads may read it without locks.
    """

    def __init__(self, cfg: TelemetryConfig, interval_secs: float | None = None) -> None:
        """Called once per consumer; interval_secs defaults to cfg.interval_secs and must be positive."""
        interval = cfg.interval_secs if interval_secs is None else interval_secs
        if not interval > 0:
            raise ValueError(f"interval_secs must be a positive number, got {interval!r}")
        self.cfg = cfg
        self.interval_secs = float(interval)
        self.snapshot: dict | None = None
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """True while the sampling thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self) -> None:
        """Called to begin sampling; takes the first snapshot synchronously, then starts the thread (no-op if
        cfg is not enabled, leaving snapshot None, or if already running)."""
        if not self.cfg.enabled:
            return
        with self._lock:
            if self.running:
                return
            from flowcept_core.telemetry.capture import capture_telemetry

            self._stop_event = stop = threading.Event()
            self.snapshot = capture_telemetry(self.cfg)
            self._thread = threading.Thread(target=self._run, args=(stop,), name="flowcept-telemetry", daemon=True)
            self._thread.start()

    def _run(self, stop: threading.Event) -> None:
        """Thread body; replaces snapshot every interval until stop is set."""
        from flowcept_core.telemetry.capture import capture_telemetry

        while not stop.wait(self.interval_secs):
            snap = capture_telemetry(self.cfg)
            if stop.is_set():
                break
            self.snapshot = snap

    def stop(self) -> None:
        """Called at shutdown; stops and joins the thread (waits at most 2 s). Idempotent; keeps last snapshot."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop_event.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)
