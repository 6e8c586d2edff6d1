"""Host, process and GPU telemetry for Flowcept task and workflow messages.

The layout of the dictionaries returned by :func:`capture_telemetry` follows upstream Flowcept's telemetry
layout, so dotted paths such as ``cpu.percent_all`` or ``process.memory.rss`` work the same way.

``psutil`` is imported lazily, inside the functions that need it: importing this module never imports it.
GPU libraries (``pynvml`` for NVIDIA, ``amdsmi`` for AMD) are optional and also imported lazily.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

BOOL_KEYS: tuple[str, ...] = ("cpu", "per_cpu", "process_info", "mem", "disk", "network", "machine_info")
NVIDIA_GPU_METRICS: frozenset[str] = frozenset({"used", "temperature", "power", "name", "id"})
AMD_GPU_METRICS: frozenset[str] = frozenset({"activity", "used", "power", "temperature", "others"})
ALLOWED_GPU_METRICS: frozenset[str] = NVIDIA_GPU_METRICS | AMD_GPU_METRICS


@dataclass(frozen=True)
class TelemetryConfig:
    """What to capture; built once from the settings.yaml ``telemetry_capture`` section."""

    cpu: bool = False
    per_cpu: bool = False
    process_info: bool = False
    mem: bool = False
    disk: bool = False
    network: bool = False
    machine_info: bool = False
    gpu: list[str] | None = field(default=None, hash=False)
    interval_secs: float = 1.0

    @classmethod
    def from_settings(cls, section: dict | None) -> TelemetryConfig:
        """Called when settings are loaded; returns the config for a ``telemetry_capture`` section.

        ``None`` or ``{}`` means everything off; missing keys (or keys set to ``null``) are off; unknown keys are
        ignored. Raises ``ValueError`` naming ``telemetry_capture.<key>``, the bad value and what is allowed.
        """
        if section is None:
            return cls()
        if not isinstance(section, dict):
            raise ValueError(f"telemetry_capture must be a mapping or null, got {section!r}")
        kwargs: dict[str, Any] = {}
        for key in BOOL_KEYS:
            value = section.get(key)
            if value is not None and not isinstance(value, bool):
                raise ValueError(f"telemetry_capture.{key} must be a bool (true or false), got {value!r}")
            kwargs[key] = bool(value)
        kwargs["gpu"] = _parse_gpu(section.get("gpu"))
        interval = section.get("interval_secs", 1.0)
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not interval > 0:
            raise ValueError(f"telemetry_capture.interval_secs must be a positive number, got {interval!r}")
        kwargs["interval_secs"] = float(interval)
        return cls(**kwargs)

    @property
    def enabled(self) -> bool:
        """True if any per-task part (cpu, per_cpu, process_info, mem, disk, network, gpu) is on."""
        return any((self.cpu, self.per_cpu, self.process_info, self.mem, self.disk, self.network, bool(self.gpu)))


def _parse_gpu(value: Any) -> list[str] | None:
    """Validate the ``gpu`` setting; returns a fresh list of metric names, or None when off (None or [])."""
    if value is None:
        return None
    allowed = ", ".join(sorted(ALLOWED_GPU_METRICS))
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"telemetry_capture.gpu must be null or a list of metric names ({allowed}), got {value!r}")
    unknown = sorted({v for v in value if v not in ALLOWED_GPU_METRICS})
    if unknown:
        raise ValueError(
            f"telemetry_capture.gpu has unknown metric name(s) {unknown} in {value!r}; allowed: {allowed} "
            f"(NVIDIA: {', '.join(sorted(NVIDIA_GPU_METRICS))}; AMD: {', '.join(sorted(AMD_GPU_METRICS))})"
        )
    return list(value) or None


# ---------------------------------------------------------------------------------------------------------------
# psutil helpers
# ---------------------------------------------------------------------------------------------------------------

_state_lock = threading.Lock()
_primed = False
_proc: Any = None


def _psutil() -> Any:
    """Called by every capture function; returns the psutil module (raises ImportError if it is missing)."""
    import psutil

    return psutil


def _try(fn: Callable[[], Any], what: str) -> Any:
    """Called for optional, platform-dependent fields; returns fn() or None (logged at debug) on any failure."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - telemetry must never raise
        logger.debug("telemetry: %s unavailable: %r", what, exc)
        return None


def _process() -> Any:
    """Called by process capture; returns a cached psutil.Process for this pid (renewed after fork), primed."""
    global _proc
    pid = os.getpid()
    with _state_lock:
        if _proc is None or _proc.pid != pid:
            proc = _psutil().Process(pid)
            proc.cpu_percent(interval=None)  # first call always returns 0.0
            _proc = proc
        return _proc


def _prime() -> None:
    """Called before the first capture; primes cpu_percent, whose first non-blocking call returns 0.0."""
    global _primed
    if _primed:
        return
    ps = _psutil()
    ps.cpu_percent(interval=None)
    ps.cpu_percent(interval=None, percpu=True)
    _process()
    _primed = True


def _capture_cpu(cfg: TelemetryConfig) -> dict:
    """Called when cpu or per_cpu is on; returns the ``cpu`` part."""
    ps = _psutil()
    out: dict[str, Any] = {}
    if cfg.cpu:
        out["times_avg"] = ps.cpu_times()._asdict()
        out["percent_all"] = float(ps.cpu_percent(interval=None))
        freq = _try(ps.cpu_freq, "cpu frequency")
        out["frequency"] = float(freq.current) if freq is not None else None
    if cfg.per_cpu:
        out["times_per_cpu"] = [t._asdict() for t in ps.cpu_times(percpu=True)]
        out["percent_per_cpu"] = [float(p) for p in ps.cpu_percent(interval=None, percpu=True)]
    return out


def _capture_process(cfg: TelemetryConfig) -> dict:
    """Called when process_info is on; returns the ``process`` part for the current process."""
    p = _process()
    conns = getattr(p, "net_connections", None) or p.connections  # psutil >= 6 renamed it
    with p.oneshot():
        return {
            "pid": p.pid,
            "cpu_number": _try(p.cpu_num, "process cpu_num"),
            "memory": p.memory_info()._asdict(),
            "memory_percent": float(p.memory_percent()),
            "cpu_times": p.cpu_times()._asdict(),
            "cpu_percent": float(p.cpu_percent(interval=None)),
            "executable": _try(p.exe, "process exe"),
            "cmd_line": _try(p.cmdline, "process cmdline"),
            "num_open_file_descriptors": _try(p.num_fds, "process num_fds"),
            "num_connections": _try(lambda: len(conns()), "process connections"),
            "num_open_files": _try(lambda: len(p.open_files()), "process open_files"),
            "num_threads": p.num_threads(),
            "num_ctx_switches": p.num_ctx_switches()._asdict(),
        }


def _capture_memory(cfg: TelemetryConfig) -> dict:
    """Called when mem is on; returns the ``memory`` part (virtual and swap)."""
    ps = _psutil()
    return {"virtual": ps.virtual_memory()._asdict(), "swap": ps.swap_memory()._asdict()}


def _capture_disk(cfg: TelemetryConfig) -> dict:
    """Called when disk is on; returns the ``disk`` part (usage of '/', summed I/O counters or None)."""
    ps = _psutil()
    io = _try(lambda: ps.disk_io_counters(perdisk=False), "disk io counters")
    return {"disk_usage": ps.disk_usage("/")._asdict(), "io_sum": io._asdict() if io is not None else None}


def _capture_network(cfg: TelemetryConfig) -> dict:
    """Called when network is on; returns the ``network`` part (summed NIC counters)."""
    return {"netio_sum": _psutil().net_io_counters(pernic=False)._asdict()}


_PARTS: tuple[tuple[str, Callable[[TelemetryConfig], bool], Callable[[TelemetryConfig], dict]], ...] = (
    ("cpu", lambda c: c.cpu or c.per_cpu, _capture_cpu),
    ("process", lambda c: c.process_info, _capture_process),
    ("memory", lambda c: c.mem, _capture_memory),
    ("disk", lambda c: c.disk, _capture_disk),
    ("network", lambda c: c.network, _capture_network),
)


# ---------------------------------------------------------------------------------------------------------------
# GPU (optional pynvml / amdsmi)
# ---------------------------------------------------------------------------------------------------------------

_gpu_checked = False
_gpu_backend: tuple[str, Any] | None = None


def _jsonable(value: Any) -> Any:
    """Called on GPU library results; returns value converted to plain JSON types (bytes decoded, rest str)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def _gpu() -> tuple[str, Any] | None:
    """Called on GPU capture; returns ("nvidia", pynvml) or ("amd", amdsmi), detected once, or None."""
    global _gpu_checked, _gpu_backend
    with _state_lock:
        if not _gpu_checked:
            _gpu_checked = True
            try:
                import pynvml

                pynvml.nvmlInit()
                _gpu_backend = ("nvidia", pynvml)
            except Exception as exc:  # noqa: BLE001
                logger.debug("telemetry: pynvml unavailable: %r", exc)
                try:
                    import amdsmi

                    amdsmi.amdsmi_init()
                    _gpu_backend = ("amd", amdsmi)
                except Exception as exc2:  # noqa: BLE001
                    logger.debug("telemetry: amdsmi unavailable: %r", exc2)
                    logger.info("telemetry: GPU capture requested but neither pynvml nor amdsmi is usable")
        return _gpu_backend


def _nvidia_metric(nv: Any, h: Any, metric: str) -> Any:
    """Called per NVIDIA device and metric; returns the metric value (memory bytes used, C, mW, name, UUID)."""
    if metric == "used":
        return nv.nvmlDeviceGetMemoryInfo(h).used
    if metric == "temperature":
        return nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU)
    if metric == "power":
        return nv.nvmlDeviceGetPowerUsage(h)
    if metric == "name":
        return nv.nvmlDeviceGetName(h)
    if metric == "id":
        return nv.nvmlDeviceGetUUID(h)
    raise KeyError(f"{metric} is not an NVIDIA metric")


def _amd_metric(amd: Any, h: Any, metric: str) -> Any:
    """Called per AMD device and metric; returns the metric value as reported by amdsmi."""
    if metric == "used":
        return amd.amdsmi_get_gpu_vram_usage(h).get("vram_used")
    if metric == "activity":
        return amd.amdsmi_get_gpu_activity(h)
    if metric == "power":
        return amd.amdsmi_get_power_info(h)
    if metric == "temperature":
        return amd.amdsmi_get_temp_metric(h, amd.AmdSmiTemperatureType.EDGE, amd.AmdSmiTemperatureMetric.CURRENT)
    if metric == "others":
        info = amd.amdsmi_get_gpu_metrics_info(h)
        return {k: v for k, v in info.items() if str(k).startswith("current_")}
    raise KeyError(f"{metric} is not an AMD metric")


def _gpu_devices(backend: tuple[str, Any]) -> list[Any]:
    """Called on each GPU capture; returns the device handles of the detected backend, in index order."""
    kind, lib = backend
    if kind == "nvidia":
        return [lib.nvmlDeviceGetHandleByIndex(i) for i in range(lib.nvmlDeviceGetCount())]
    return list(lib.amdsmi_get_processor_handles())


def _capture_gpu(metrics: list[str]) -> dict | None:
    """Called when gpu is set; returns {"gpu_<index>": {metric: value}} or None when no GPU library is usable."""
    backend = _gpu()
    if backend is None:
        return None
    kind, lib = backend
    getter = _nvidia_metric if kind == "nvidia" else _amd_metric
    out: dict[str, Any] = {}
    for i, h in enumerate(_gpu_devices(backend)):
        dev: dict[str, Any] = {}
        for m in metrics:
            value = _try(lambda m=m: getter(lib, h, m), f"{kind} gpu {i} {m}")
            if value is not None:
                dev[m] = _jsonable(value)
        out[f"gpu_{i}"] = dev
    return out


# ---------------------------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------------------------


def capture_telemetry(cfg: TelemetryConfig) -> dict | None:
    """Called per task (or by :class:`TelemetrySampler`); returns a fresh reading, or None if cfg is not enabled.

    The dict holds ``timestamp`` (time.time()) plus only the enabled parts among ``cpu``, ``process``, ``memory``,
    ``disk``, ``network`` and ``gpu``. A part that fails (AccessDenied, missing file, psutil not installed) is
    logged at debug and left out; this function never raises.
    """
    if not cfg.enabled:
        return None
    result: dict[str, Any] = {"timestamp": time.time()}
    try:
        _prime()
    except Exception as exc:  # noqa: BLE001
        logger.debug("telemetry: could not prime psutil: %r", exc)
    for key, wanted, fn in _PARTS:
        if wanted(cfg):
            try:
                result[key] = fn(cfg)
            except Exception as exc:  # noqa: BLE001
                logger.debug("telemetry: part %r skipped: %r", key, exc)
    if cfg.gpu:
        try:
            gpu = _capture_gpu(cfg.gpu)
        except Exception as exc:  # noqa: BLE001
            logger.debug("telemetry: part 'gpu' skipped: %r", exc)
            gpu = None
        if gpu is not None:
            result["gpu"] = gpu
    return result


_machine_cache: dict[tuple[str, ...] | None, dict] = {}


def _cpu_model() -> str | None:
    """Called by machine_info; returns the 'model name' from /proc/cpuinfo, or None if unreadable."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _gpu_names() -> list[str] | None:
    """Called by machine_info when gpu is on; returns the GPU names, or None if no GPU library is usable."""
    backend = _gpu()
    if backend is None:
        return None
    kind, lib = backend
    if kind == "nvidia":
        return [_jsonable(lib.nvmlDeviceGetName(h)) for h in _gpu_devices(backend)]
    return [_jsonable(lib.amdsmi_get_gpu_asic_info(h).get("market_name")) for h in _gpu_devices(backend)]


def machine_info(cfg: TelemetryConfig) -> dict:
    """Called once per workflow message; returns a static (cached) description of this machine.

    Keys: ``platform`` (system, release, machine, python_version), ``cpu`` (count_logical, count_physical,
    model), ``memory`` (total bytes), ``disk`` (total bytes of '/'), ``hostname``, and ``gpu`` (list of names)
    when cfg.gpu is set and a GPU library is usable. Values that cannot be read are None; never raises.
    """
    key = tuple(cfg.gpu) if cfg.gpu else None
    cached = _machine_cache.get(key)
    if cached is None:
        import platform
        import socket

        ps = _try(_psutil, "psutil")
        info: dict[str, Any] = {
            "platform": {
                "system": platform.system(),
                "release": platform.release(),
                "machine": platform.machine(),
                "python_version": platform.python_version(),
            },
            "cpu": {
                "count_logical": _try(ps.cpu_count, "cpu count") if ps else os.cpu_count(),
                "count_physical": _try(lambda: ps.cpu_count(logical=False), "physical cpu count") if ps else None,
                "model": _cpu_model(),
            },
            "memory": {"total": _try(lambda: ps.virtual_memory().total, "memory total") if ps else None},
            "disk": {"total": _try(lambda: ps.disk_usage("/").total, "disk total") if ps else None},
            "hostname": _try(socket.gethostname, "hostname"),
        }
        if cfg.gpu:
            names = _try(_gpu_names, "gpu names")
            if names is not None:
                info["gpu"] = names
        cached = _machine_cache.setdefault(key, info)
    import copy

    return copy.deepcopy(cached)


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
        """Called to begin sampling; takes the first snapshot synchronously, then starts the thread.

        A no-op (snapshot stays None) when cfg is not enabled, and when already running.
        """
        if not self.cfg.enabled:
            return
        with self._lock:
            if self.running:
                return
            self._stop_event = stop = threading.Event()
            self.snapshot = capture_telemetry(self.cfg)
            self._thread = threading.Thread(target=self._run, args=(stop,), name="flowcept-telemetry", daemon=True)
            self._thread.start()

    def _run(self, stop: threading.Event) -> None:
        """Thread body; replaces snapshot every interval until stop is set."""
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

    def __enter__(self) -> TelemetrySampler:
        """Context-manager entry; starts the sampler and returns it."""
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Context-manager exit; stops the sampler."""
        self.stop()
