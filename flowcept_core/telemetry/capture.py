"""psutil readings: :func:`capture_telemetry` (one snapshot) and :func:`machine_info` (static, cached).

The snapshot layout follows upstream Flowcept's, so dotted paths such as ``cpu.percent_all``,
``process.memory.rss``, ``disk.io_per_disk.sda`` or ``network.netio_per_interface.eth0`` work the same way.
``psutil`` is imported lazily, inside the functions that need it: importing this module never imports it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable

from flowcept_core.redact import mask_command_line
from flowcept_core.telemetry.config import TelemetryConfig

TYPE_CHECKING = False  # typing is not imported at run time (see flowcept_core.capture.context)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["capture_telemetry", "machine_info"]


_state_lock = threading.Lock()
_proc: Any = None  # psutil.Process of this pid, created (and cpu_percent primed) by _process()


def _debug(fmt: str, *args: Any) -> None:
    """A debug line on the ``flowcept_core.telemetry`` logger (logging is imported only when something is said)."""
    import logging

    logging.getLogger("flowcept_core.telemetry").debug(fmt, *args)


def _psutil() -> Any:
    """Called by every capture function; returns the psutil module (raises ImportError if it is missing)."""
    import psutil

    return psutil


def _try(fn: Callable[[], Any], what: str) -> Any:
    """Called for optional, platform-dependent fields; returns fn() or None (logged at debug) on any failure."""
    try:
        return fn()
    except Exception as exc:  # telemetry must never raise
        _debug("telemetry: %s unavailable: %r", what, exc)
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
            "cmd_line": mask_command_line(_try(p.cmdline, "process cmdline")),  # --password=x -> --password=***
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
    """Called when disk is on; returns the ``disk`` part: usage of '/', summed I/O counters and, with more than one
    disk, ``io_per_disk`` {disk name: counters}."""
    ps = _psutil()
    out: dict[str, Any] = {"disk_usage": _as_dict(ps.disk_usage("/")),
                           "io_sum": _as_dict(_try(lambda: ps.disk_io_counters(perdisk=False), "disk io counters"))}
    per_disk = _try(lambda: ps.disk_io_counters(perdisk=True), "per-disk io counters") or {}
    if len(per_disk) > 1:
        out["io_per_disk"] = {name: c._asdict() for name, c in per_disk.items()}
    return out


def _capture_network(cfg: TelemetryConfig) -> dict:
    """Called when network is on; returns the ``network`` part: summed NIC counters and ``netio_per_interface``
    (interfaces that both sent and received bytes)."""
    ps = _psutil()
    per_nic = _try(lambda: ps.net_io_counters(pernic=True), "per-interface net counters") or {}
    return {"netio_sum": _as_dict(ps.net_io_counters(pernic=False)),
            "netio_per_interface": {n: c._asdict() for n, c in per_nic.items() if c.bytes_sent and c.bytes_recv}}


def _capture_gpu(cfg: TelemetryConfig) -> dict | None:
    """Called when cfg.gpu is set; returns {"gpu_<index>": {metric: value}} or None when no GPU library is usable."""
    from flowcept_core.telemetry.gpu import gpu_telemetry, read_gpus

    got = read_gpus(cfg.gpu or [])
    return gpu_telemetry(*got) if got is not None else None


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
                _debug("telemetry: part %r skipped: %r", key, exc)
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


# On Linux the static facts are read as psutil reads them, without importing it (~25 ms of a run's start-up)
_LINUX = sys.platform.startswith("linux")


def _physical_cores() -> int | None:
    if _LINUX:
        base, lists = "/sys/devices/system/cpu", set()
        for leaf in ("core_cpus_list", "thread_siblings_list"):  # CPUs sharing a core, one line per core
            for name in os.listdir(base):
                if name.startswith("cpu") and name[3:].isdigit():
                    try:
                        with open(f"{base}/{name}/topology/{leaf}") as f:
                            lists.add(f.read().strip())
                    except OSError:
                        pass
            if lists:
                return len(lists)
    return _psutil().cpu_count(logical=False)


def _memory_total() -> int:
    if _LINUX:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")  # /proc/meminfo's MemTotal, as psutil
    return _psutil().virtual_memory().total


def _disk_total() -> int:
    if hasattr(os, "statvfs"):
        st = os.statvfs("/")  # psutil.disk_usage("/").total on POSIX
        return st.f_blocks * st.f_frsize
    return _psutil().disk_usage("/").total


def _platform() -> dict:
    """platform.system(), release(), machine() and python_version(), read without importing platform where the
    system has uname (its import is ~2 ms of a run's start-up)."""
    if hasattr(os, "uname"):
        u = os.uname()
        return {"system": u.sysname, "release": u.release, "machine": u.machine,
                "python_version": sys.version.split()[0]}
    import platform

    return {k: getattr(platform, k)() for k in ("system", "release", "machine", "python_version")}


def machine_info(cfg: TelemetryConfig) -> dict:
    """Called once per workflow message; returns a static (cached) description of this machine.

    Keys: ``platform`` (system, release, machine, python_version), ``cpu`` (count_logical, count_physical,
    model), ``memory`` (total bytes), ``disk`` (total bytes of '/'), ``hostname``, and ``gpu`` (list of names)
    when cfg.gpu is set and a GPU library is usable. Values that cannot be read are None; never raises.
    """
    key = tuple(cfg.gpu) if cfg.gpu else None
    cached = _machine_cache.get(key)
    if cached is None:
        import _socket

        info: dict[str, Any] = {
            "platform": _platform(),
            "cpu": {
                "count_logical": os.cpu_count(),
                "count_physical": _try(_physical_cores, "physical cpu count"),
                "model": _cpu_model(),
            },
            "memory": {"total": _try(_memory_total, "memory total")},
            "disk": {"total": _try(_disk_total, "disk total")},
            "hostname": _try(_socket.gethostname, "hostname"),
        }
        if cfg.gpu:
            from flowcept_core.telemetry.gpu import gpu_names

            names = _try(gpu_names, "gpu names")
            if names is not None:
                info["gpu"] = names
        cached = _machine_cache.setdefault(key, info)
    import copy

    return copy.deepcopy(cached)
