"""Tests for flowcept_core.telemetry (real psutil, no mocks of psutil readings)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from flowcept_core.telemetry import (
    TelemetryConfig,
    TelemetrySampler,
    capture_telemetry,
    machine_info,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = REPO_ROOT / "flowcept_core" / "telemetry"

UPSTREAM_SECTION = {
    "gpu": None,
    "cpu": True,
    "per_cpu": True,
    "process_info": True,
    "mem": True,
    "disk": True,
    "network": True,
    "machine_info": True,
}
ALL_ON = TelemetryConfig.from_settings(UPSTREAM_SECTION)


# --------------------------------------------------------------------------------------------------- config


def test_from_settings_upstream_section() -> None:
    cfg = TelemetryConfig.from_settings(UPSTREAM_SECTION)
    assert cfg == TelemetryConfig(True, True, True, True, True, True, True, None, 1.0)
    assert cfg.enabled


@pytest.mark.parametrize("section", [None, {}])
def test_from_settings_empty_means_all_off(section: dict | None) -> None:
    cfg = TelemetryConfig.from_settings(section)
    assert not cfg.enabled
    assert not any((cfg.cpu, cfg.per_cpu, cfg.process_info, cfg.mem, cfg.disk, cfg.network, cfg.machine_info))
    assert cfg.gpu is None


def test_from_settings_partial_unknown_keys_and_gpu() -> None:
    cfg = TelemetryConfig.from_settings({"mem": True, "bogus": 42, "gpu": ["used", "activity"], "interval_secs": 2})
    assert cfg.mem and not cfg.cpu and cfg.gpu == ["used", "activity"] and cfg.interval_secs == 2.0
    assert TelemetryConfig.from_settings({"gpu": ["name"]}).enabled
    assert not TelemetryConfig.from_settings({"machine_info": True}).enabled
    assert TelemetryConfig.from_settings({"gpu": []}).gpu is None
    hash(cfg)  # frozen config with a gpu list is still hashable


@pytest.mark.parametrize("key", ["cpu", "per_cpu", "process_info", "mem", "disk", "network", "machine_info"])
@pytest.mark.parametrize("bad", ["yes", 1, [True]])
def test_bool_key_validation(key: str, bad: object) -> None:
    with pytest.raises(ValueError) as info:
        TelemetryConfig.from_settings({key: bad})
    msg = str(info.value)
    assert f"telemetry_capture.{key}" in msg
    assert repr(bad) in msg
    assert "true or false" in msg


def test_gpu_unknown_metric_validation() -> None:
    with pytest.raises(ValueError) as info:
        TelemetryConfig.from_settings({"gpu": ["used", "fan_speed", "clock"]})
    msg = str(info.value)
    assert "telemetry_capture.gpu" in msg
    assert "'fan_speed'" in msg and "'clock'" in msg
    for allowed in ("used", "temperature", "power", "name", "id", "activity", "others"):
        assert allowed in msg


@pytest.mark.parametrize("bad", ["used", 3, ["used", 7], {"used": True}])
def test_gpu_type_validation(bad: object) -> None:
    with pytest.raises(ValueError) as info:
        TelemetryConfig.from_settings({"gpu": bad})
    msg = str(info.value)
    assert "telemetry_capture.gpu" in msg and repr(bad) in msg and "list" in msg


@pytest.mark.parametrize("bad", [0, -1, "1", True])
def test_interval_validation(bad: object) -> None:
    with pytest.raises(ValueError, match=r"telemetry_capture\.interval_secs") as info:
        TelemetryConfig.from_settings({"interval_secs": bad})
    assert repr(bad) in str(info.value)


# -------------------------------------------------------------------------------------------------- capture


def test_capture_all_on_layout_and_json() -> None:
    snap = capture_telemetry(ALL_ON)
    assert snap is not None
    assert set(snap) == {"timestamp", "cpu", "process", "memory", "disk", "network"}
    assert isinstance(snap["timestamp"], float)
    cpu = snap["cpu"]
    assert set(cpu) == {"times_avg", "percent_all", "frequency", "times_per_cpu", "percent_per_cpu"}
    assert {"user", "system", "idle"} <= set(cpu["times_avg"])
    assert isinstance(cpu["percent_all"], float)
    assert cpu["frequency"] is None or isinstance(cpu["frequency"], float)
    assert len(cpu["times_per_cpu"]) == len(cpu["percent_per_cpu"]) >= 1
    proc = snap["process"]
    assert set(proc) == {
        "pid",
        "cpu_number",
        "memory",
        "memory_percent",
        "cpu_times",
        "cpu_percent",
        "executable",
        "cmd_line",
        "num_open_file_descriptors",
        "num_connections",
        "num_open_files",
        "num_threads",
        "num_ctx_switches",
    }
    assert proc["pid"] == os.getpid()
    assert proc["memory"]["rss"] > 0 and "vms" in proc["memory"]
    assert {"user", "system"} <= set(proc["cpu_times"])
    assert proc["num_threads"] >= 1
    assert set(snap["memory"]) == {"virtual", "swap"}
    assert snap["memory"]["virtual"]["total"] > 0
    assert {"disk_usage", "io_sum"} <= set(snap["disk"]) <= {"disk_usage", "io_sum", "io_per_disk"}
    assert snap["disk"]["disk_usage"]["total"] > 0
    assert "bytes_sent" in snap["network"]["netio_sum"]
    for counters in snap["network"]["netio_per_interface"].values():
        assert counters["bytes_sent"] > 0 and counters["bytes_recv"] > 0
    # Plain JSON types only: a round trip gives back an equal structure.
    assert json.loads(json.dumps(snap)) == snap


def test_capture_only_mem() -> None:
    snap = capture_telemetry(TelemetryConfig(mem=True))
    assert snap is not None
    assert set(snap) == {"timestamp", "memory"}


def test_capture_cpu_without_per_cpu() -> None:
    snap = capture_telemetry(TelemetryConfig(cpu=True))
    assert snap is not None
    assert set(snap["cpu"]) == {"times_avg", "percent_all", "frequency"}
    only_per_cpu = capture_telemetry(TelemetryConfig(per_cpu=True))
    assert set(only_per_cpu["cpu"]) == {"times_per_cpu", "percent_per_cpu"}


def test_capture_disabled_returns_none() -> None:
    assert capture_telemetry(TelemetryConfig()) is None
    assert capture_telemetry(TelemetryConfig.from_settings({"machine_info": True})) is None


def test_gpu_requested_without_library_is_omitted() -> None:
    snap = capture_telemetry(TelemetryConfig(mem=True, gpu=["used", "temperature"]))
    assert snap is not None and "memory" in snap
    try:
        import pynvml  # noqa: F401
    except ImportError:
        try:
            import amdsmi  # noqa: F401
        except ImportError:
            assert "gpu" not in snap


def test_machine_info_cached_and_json() -> None:
    info = machine_info(ALL_ON)
    assert {"platform", "cpu", "memory", "disk", "hostname"} <= set(info)
    assert set(info["platform"]) == {"system", "release", "machine", "python_version"}
    assert info["cpu"]["count_logical"] >= 1
    assert info["memory"]["total"] > 0 and info["disk"]["total"] > 0
    json.dumps(info)
    info["hostname"] = "mutated"
    assert machine_info(ALL_ON)["hostname"] != "mutated"  # callers get a copy of the cache
    assert machine_info(ALL_ON) == machine_info(ALL_ON)


# -------------------------------------------------------------------------------------------------- sampler


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_sampler_updates_and_stops() -> None:
    sampler = TelemetrySampler(TelemetryConfig(cpu=True, process_info=True), interval_secs=0.05)
    assert sampler.snapshot is None
    sampler.start()
    try:
        first = sampler.snapshot
        assert first is not None and "process" in first
        names = [t.name for t in threading.enumerate()]
        assert "flowcept-telemetry" in names
        thread = next(t for t in threading.enumerate() if t.name == "flowcept-telemetry")
        assert thread.daemon
        first_ts = first["timestamp"]
        deadline = time.perf_counter() + 10  # generous: the machine may be busy
        while sampler.snapshot is first and time.perf_counter() < deadline:
            _busy(0.05)
        _busy(0.2)
        second = sampler.snapshot
        assert second is not first
        assert second["timestamp"] > first["timestamp"]
        assert second["process"]["cpu_times"] != first["process"]["cpu_times"]
        assert first["timestamp"] == first_ts  # the old snapshot was replaced, not mutated in place
    finally:
        t0 = time.perf_counter()
        sampler.stop()
        assert time.perf_counter() - t0 < 0.5
    assert not sampler.running
    frozen = sampler.snapshot
    time.sleep(0.2)
    assert sampler.snapshot is frozen
    sampler.stop()  # idempotent


def test_sampler_stop_is_immediate_with_long_interval() -> None:
    sampler = TelemetrySampler(TelemetryConfig(mem=True), interval_secs=30)
    sampler.start()
    assert sampler.snapshot is not None and sampler.running
    t0 = time.perf_counter()
    sampler.stop()
    assert time.perf_counter() - t0 < 0.5
    assert not sampler.running


def test_sampler_disabled_is_noop() -> None:
    sampler = TelemetrySampler(TelemetryConfig())
    sampler.start()
    assert sampler.snapshot is None and not sampler.running
    sampler.stop()


def test_sampler_restart_and_interval_validation() -> None:
    sampler = TelemetrySampler(TelemetryConfig(mem=True), interval_secs=0.05)
    sampler.start()
    sampler.start()  # already running: no second thread
    assert sum(t.name == "flowcept-telemetry" for t in threading.enumerate()) == 1
    sampler.stop()
    assert not sampler.running
    sampler.start()
    assert sampler.running
    sampler.stop()
    assert TelemetrySampler(TelemetryConfig(mem=True, interval_secs=2.5)).interval_secs == 2.5
    with pytest.raises(ValueError, match="interval_secs"):
        TelemetrySampler(TelemetryConfig(mem=True), interval_secs=0)


# ------------------------------------------------------------------------------------------ import hygiene

_CHECK = ("import sys; import flowcept_core.telemetry as t; t.TelemetryConfig; t.TelemetrySampler; t.summarize; "
          "print('psutil' in sys.modules)")


def _run_python(code: str, pythonpath: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_import_does_not_import_psutil_isolated(tmp_path: Path) -> None:
    """The module on its own (copied into a bare namespace package) must not import psutil."""
    (tmp_path / "flowcept_core").mkdir()
    shutil.copytree(PACKAGE_DIR, tmp_path / "flowcept_core" / "telemetry", ignore=shutil.ignore_patterns("__pycache__"))
    assert _run_python(_CHECK, tmp_path) == "False"


def test_import_does_not_import_psutil_in_package() -> None:
    """Same check through the real package (including flowcept_core/__init__.py once it exists)."""
    assert _run_python(_CHECK, REPO_ROOT) == "False"


def test_capture_never_raises_without_psutil(tmp_path: Path) -> None:
    """With psutil made unimportable, captures skip every psutil part instead of raising."""
    (tmp_path / "flowcept_core").mkdir()
    shutil.copytree(PACKAGE_DIR, tmp_path / "flowcept_core" / "telemetry", ignore=shutil.ignore_patterns("__pycache__"))
    code = (
        "import sys, json; sys.modules['psutil'] = None\n"
        "from flowcept_core.telemetry import TelemetryConfig, capture_telemetry, machine_info\n"
        "cfg = TelemetryConfig(cpu=True, per_cpu=True, process_info=True, mem=True, disk=True, network=True)\n"
        "print(sorted(capture_telemetry(cfg))); json.dumps(machine_info(cfg))"
    )
    assert _run_python(code, tmp_path) == "['timestamp']"


def test_machine_info_reads_what_psutil_reports_and_the_hosts_names():
    import socket

    import psutil

    from flowcept_core.sysinfo import host_fields

    info = machine_info(TelemetryConfig())
    assert info["cpu"]["count_logical"] == psutil.cpu_count()
    assert info["cpu"]["count_physical"] == psutil.cpu_count(logical=False)
    assert info["memory"]["total"] == psutil.virtual_memory().total
    assert info["disk"]["total"] == psutil.disk_usage("/").total
    assert info["hostname"] == socket.gethostname()
    fqdn = socket.getfqdn()
    assert host_fields()["hostname"] == (fqdn if fqdn and fqdn != "localhost" else socket.gethostname())
    import getpass
    import platform

    assert host_fields()["login_name"] == getpass.getuser()
    assert info["platform"] == {k: getattr(platform, k)() for k in ("system", "release", "machine", "python_version")}


def test_a_telemetry_config_is_immutable_hashable_and_picklable():
    import pickle

    cfg = TelemetryConfig(cpu=True, gpu=["used"], interval_secs=2.0, critical_tags={"duration_s": 1.0})
    with pytest.raises(AttributeError, match="immutable"):
        cfg.cpu = False  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(cfg)) == cfg and pickle.loads(pickle.dumps(cfg)).critical_tags == {
        "duration_s": 1.0}
    same = TelemetryConfig(cpu=True, gpu=["used"], interval_secs=2.0)  # critical_tags take no part in equality
    assert cfg == same and hash(cfg) == hash(same) and cfg != TelemetryConfig(cpu=True)
    assert "cpu=True" in repr(cfg) and cfg.enabled and not TelemetryConfig().enabled
