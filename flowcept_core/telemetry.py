"""Host, process and GPU telemetry for Flowcept task and workflow messages.

The layout of the dictionaries returned by :func:`capture_telemetry` follows upstream Flowcept's telemetry
layout, so dotted paths such as ``cpu.percent_all`` or ``process.memory.rss`` work the same way.

``psutil`` is imported lazily, inside the functions that need it: importing this module never imports it.
GPU libraries (``pynvml`` for NVIDIA, ``amdsmi`` for AMD) are optional and also imported lazily.
"""

from __future__ import annotations

import functools
import importlib
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


_state_lock = threading.Lock()
_proc: Any = None  # psutil.Process of this pid, created (and cpu_percent primed) by _process()


def _psutil() -> Any:
    """Called by every capture function; returns the psutil module (raises ImportError if it is missing)."""
    import psutil

    return psutil


def _try(fn: Callable[[], Any], what: str) -> Any:
    """Called for optional, platform-dependent fields; returns fn() or None (logged at debug) on any failure."""
    try:
        return fn()
    except Exception as exc:  # telemetry must never raise
        logger.debug("telemetry: %s unavailable: %r", what, exc)
        return None


def _as_dict(nt: Any) -> dict | None:
    """Called on psutil results; returns the namedtuple as a plain dict (None stays None)."""
    return nt._asdict() if nt is not None else None


def _process() -> Any:
    """Called at the start of every capture; returns a cached psutil.Process for this pid (renewed after fork).

    On creation it primes the process and system cpu_percent counters, whose first non-blocking call returns 0.0.
    """
    global _proc
    with _state_lock:
        if _proc is None or _proc.pid != os.getpid():
            ps = _psutil()
            proc = ps.Process(os.getpid())
            proc.cpu_percent(interval=None)
            if _proc is None:
                ps.cpu_percent(interval=None)
                ps.cpu_percent(interval=None, percpu=True)
            _proc = proc
        return _proc


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
    return {"virtual": _as_dict(_psutil().virtual_memory()), "swap": _as_dict(_psutil().swap_memory())}


def _capture_disk(cfg: TelemetryConfig) -> dict:
    """Called when disk is on; returns the ``disk`` part (usage of '/', summed I/O counters or None)."""
    io = _try(lambda: _psutil().disk_io_counters(perdisk=False), "disk io counters")
    return {"disk_usage": _as_dict(_psutil().disk_usage("/")), "io_sum": _as_dict(io)}


def _capture_network(cfg: TelemetryConfig) -> dict:
    """Called when network is on; returns the ``network`` part (summed NIC counters)."""
    return {"netio_sum": _as_dict(_psutil().net_io_counters(pernic=False))}


def _jsonable(value: Any) -> Any:
    """Called on GPU library results; returns value converted to plain JSON types (bytes decoded, rest str)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


@functools.cache
def _gpu() -> tuple[str, Any] | None:
    """Called on GPU capture and machine_info; returns ("nvidia", pynvml) or ("amd", amdsmi), detected once, or None."""
    for kind, module, init in (("nvidia", "pynvml", "nvmlInit"), ("amd", "amdsmi", "amdsmi_init")):
        try:
            lib = importlib.import_module(module)
            getattr(lib, init)()
            return kind, lib
        except Exception as exc:
            logger.debug("telemetry: %s unavailable: %r", module, exc)
    logger.info("telemetry: GPU capture requested but neither pynvml nor amdsmi is usable")
    return None


_NVIDIA_METRICS: dict[str, Callable[[Any, Any], Any]] = {  # memory bytes used, Celsius, milliwatts, name, UUID
    "used": lambda nv, h: nv.nvmlDeviceGetMemoryInfo(h).used,
    "temperature": lambda nv, h: nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU),
    "power": lambda nv, h: nv.nvmlDeviceGetPowerUsage(h),
    "name": lambda nv, h: nv.nvmlDeviceGetName(h),
    "id": lambda nv, h: nv.nvmlDeviceGetUUID(h),
}
_AMD_METRICS: dict[str, Callable[[Any, Any], Any]] = {  # as reported by amdsmi
    "used": lambda amd, h: amd.amdsmi_get_gpu_vram_usage(h).get("vram_used"),
    "activity": lambda amd, h: amd.amdsmi_get_gpu_activity(h),
    "power": lambda amd, h: amd.amdsmi_get_power_info(h),
    "temperature": lambda amd, h: amd.amdsmi_get_temp_metric(
        h, amd.AmdSmiTemperatureType.EDGE, amd.AmdSmiTemperatureMetric.CURRENT
    ),
    "others": lambda amd, h: {
        k: v for k, v in amd.amdsmi_get_gpu_metrics_info(h).items() if str(k).startswith("current_")
    },
}


def _gpu_devices(backend: tuple[str, Any]) -> list[Any]:
    """Called on each GPU capture; returns the device handles of the detected backend, in index order."""
    kind, lib = backend
    if kind == "nvidia":
        return [lib.nvmlDeviceGetHandleByIndex(i) for i in range(lib.nvmlDeviceGetCount())]
    return list(lib.amdsmi_get_processor_handles())


def _capture_gpu(cfg: TelemetryConfig) -> dict | None:
    """Called when cfg.gpu is set; returns {"gpu_<index>": {metric: value}} or None when no GPU library is usable."""
    backend = _gpu()
    if backend is None:
        return None
    kind, lib = backend
    table = _NVIDIA_METRICS if kind == "nvidia" else _AMD_METRICS
    out: dict[str, Any] = {}
    for i, h in enumerate(_gpu_devices(backend)):
        dev: dict[str, Any] = {}
        for m in cfg.gpu or ():
            if m in table:  # metrics of the other vendor are ignored
                value = _try(lambda f=table[m], h=h: f(lib, h), f"{kind} gpu {i} {m}")
                if value is not None:
                    dev[m] = _jsonable(value)
        out[f"gpu_{i}"] = dev
    return out


def capture_telemetry(cfg: TelemetryConfig) -> dict | None:
    """Called per task (or by :class:`TelemetrySampler`); returns a fresh reading, or None if cfg is not enabled.

    The dict holds ``timestamp`` (time.time()) plus only the enabled parts among ``cpu``, ``process``, ``memory``,
    ``disk``, ``network`` and ``gpu``. A part that fails (AccessDenied, missing file, psutil not installed) is
    logged at debug and left out; this function never raises.
    """
    if not cfg.enabled:
        return None
    result: dict[str, Any] = {"timestamp": time.time()}
    _try(_process, "psutil")  # primes cpu_percent on the first capture
    parts = (
        ("cpu", cfg.cpu or cfg.per_cpu, _capture_cpu),
        ("process", cfg.process_info, _capture_process),
        ("memory", cfg.mem, _capture_memory),
        ("disk", cfg.disk, _capture_disk),
        ("network", cfg.network, _capture_network),
        ("gpu", bool(cfg.gpu), _capture_gpu),
    )
    for key, wanted, fn in parts:
        if wanted:
            try:
                part = fn(cfg)
            except Exception as exc:
                logger.debug("telemetry: part %r skipped: %r", key, exc)
                continue
            if part is not None:
                result[key] = part
    return result


_machine_cache: dict[tuple[str, ...] | None, dict] = {}


def _cpu_model() -> str | None:
    """Called by machine_info; returns the 'model name' from /proc/cpuinfo, or None if unreadable."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            return next((ln.split(":", 1)[1].strip() for ln in f if ln.lower().startswith("model name")), None)
    except OSError:
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

        ps = _try(_psutil, "psutil")  # if None, the psutil fields below fail inside _try and become None
        info: dict[str, Any] = {
            "platform": {k: getattr(platform, k)() for k in ("system", "release", "machine", "python_version")},
            "cpu": {
                "count_logical": _try(lambda: ps.cpu_count(), "cpu count") or os.cpu_count(),
                "count_physical": _try(lambda: ps.cpu_count(logical=False), "physical cpu count"),
                "model": _cpu_model(),
            },
            "memory": {"total": _try(lambda: ps.virtual_memory().total, "memory total")},
            "disk": {"total": _try(lambda: ps.disk_usage("/").total, "disk total")},
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
        """Called to begin sampling; takes the first snapshot synchronously, then starts the thread (no-op if
        cfg is not enabled, leaving snapshot None, or if already running)."""
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
