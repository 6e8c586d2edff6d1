"""Per-task telemetry summaries, critical-task tags and the GPU conversion (recorded readings, no GPU library)."""

from __future__ import annotations

import logging
import os
import time

import pytest

from flowcept import Flowcept, flowcept_task, telemetry_flowcept_task
from flowcept_core.telemetry import TelemetryConfig, capture_telemetry, critical_tags, summarize, summary_of
from flowcept_core.telemetry.gpu import gpu_backend, gpu_telemetry, visible_gpu_indices
from tests._util import tasks, use_settings

# Raw readings in the shape nvidia_reading() records them from nvidia-ml-py 12 (structs become dicts, strings are
# str): two devices of an 8-GPU node with CUDA_VISIBLE_DEVICES=2,5.
NVIDIA_READINGS = [
    {"index": 2, "memory": {"total": 85520809984, "free": 52176683008, "used": 33344126976},
     "utilization": {"gpu": 97, "memory": 41}, "temperature": 61, "power": 512345,
     "name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-8f1c0b52-1e0a-7d3c-9a4b-2f6c7e5d1a90"},
    {"index": 5, "memory": {"total": 85520809984, "free": 85016772608, "used": 504037376},
     "utilization": {"gpu": 0, "memory": 0}, "temperature": 34, "name": b"NVIDIA H100 80GB HBM3"},
]
# as amd_reading() records amdsmi 6.x results on an MI250X GCD
AMD_READINGS = [
    {"index": 0, "vram": {"vram_total": 65520, "vram_used": 12288},
     "activity": {"gfx_activity": 88, "umc_activity": 35, "mm_activity": 0},
     "power": {"current_socket_power": 402, "average_socket_power": 390, "power_limit": 560},
     "temperature": 52, "metrics": {"current_gfxclk": 1700, "current_socclk": 1090, "average_gfx_activity": 80},
     "asic": {"market_name": "AMD Instinct MI250X", "vendor_id": 4098}, "uuid": "ed7b1b8a-0000-1000-80d5-b0cd3a0c2c0f"},
]


def test_nvidia_readings_convert_to_upstream_gpu_layout() -> None:
    gpu = gpu_telemetry("nvidia", NVIDIA_READINGS)
    assert list(gpu) == ["gpu_2", "gpu_5"]
    assert gpu["gpu_2"] == {"gpu_ix": 2, "used": 33344126976, "total": 85520809984, "activity": 97,
                            "memory_activity": 41, "temperature": 61, "power": 512345,
                            "name": "NVIDIA H100 80GB HBM3", "id": "GPU-8f1c0b52-1e0a-7d3c-9a4b-2f6c7e5d1a90"}
    assert "power" not in gpu["gpu_5"] and "id" not in gpu["gpu_5"]  # not read: left out, not None


def test_amd_readings_convert_with_current_metrics_only() -> None:
    gpu = gpu_telemetry("amd", AMD_READINGS)["gpu_0"]
    assert gpu["used"] == 12288 and gpu["total"] == 65520
    assert gpu["activity"]["gfx_activity"] == 88
    assert gpu["others"] == {"current_gfxclk": 1700, "current_socclk": 1090}
    assert gpu["name"] == "AMD Instinct MI250X"


def test_gpu_summary_from_recorded_readings_in_watts_and_percent() -> None:
    start = {"gpu": gpu_telemetry("nvidia", [{**NVIDIA_READINGS[0], "memory": {"total": 85520809984,
                                                                              "used": 30000000000}}])}
    end = {"gpu": gpu_telemetry("nvidia", NVIDIA_READINGS[:1])}
    g = summarize(start, end, 10.0, 12.0)["gpu"]["gpu_2"]
    assert g["used_delta_bytes"] == 33344126976 - 30000000000
    assert g["power_w"] == pytest.approx(512.345)
    assert g["memory_percent"] == pytest.approx(33344126976 / 85520809984 * 100, rel=1e-6)
    amd = summarize(None, {"gpu": gpu_telemetry("amd", AMD_READINGS)}, 0, 1)["gpu"]["gpu_0"]
    assert amd["activity"] == 88 and amd["power_w"] == 402


@pytest.mark.parametrize(("env", "expected"), [
    (None, [0, 1, 2, 3]), ("", []), ("2,0", [2, 0]), ("1,7,2", [1]), ("-1", []), ("3,3", [3]),
    ("GPU-bb", [1]), ("GPU-aa,2", [0, 2]),
])
def test_visible_devices_follow_cuda_rules(env: str | None, expected: list[int]) -> None:
    assert visible_gpu_indices(env, 4, ["GPU-aa11", "GPU-bb22", "GPU-cc33", "GPU-dd44"]) == expected


def test_gpu_requested_without_library_logs_once_and_is_left_out(caplog: pytest.LogCaptureFixture) -> None:
    gpu_backend.cache_clear()
    try:
        with caplog.at_level(logging.INFO, logger="flowcept_core.telemetry"):
            first = capture_telemetry(TelemetryConfig(mem=True, gpu=["used"]))
            second = capture_telemetry(TelemetryConfig(mem=True, gpu=["used"]))
        if gpu_backend() is not None:
            pytest.skip("a GPU library is usable on this machine")
        assert "gpu" not in first and "gpu" not in second and "memory" in second
        lines = [r.getMessage() for r in caplog.records if "GPU" in r.getMessage()]
        assert len(lines) == 1 and "nvidia-ml-py" in lines[0], lines
    finally:
        gpu_backend.cache_clear()


def test_summary_deltas_from_snapshots() -> None:
    start = {"cpu": {"percent_all": 10.0}, "process": {"cpu_times": {"user": 1.0, "system": 0.5},
                                                       "memory": {"rss": 100 << 20}},
             "memory": {"virtual": {"used": 1000, "percent": 40.0}},
             "disk": {"io_sum": {"read_bytes": 10, "write_bytes": 20}},
             "network": {"netio_sum": {"bytes_sent": 5, "bytes_recv": 7}}}
    end = {"cpu": {"percent_all": 95.0}, "process": {"cpu_times": {"user": 2.5, "system": 0.5},
                                                     "memory": {"rss": 400 << 20}},
           "memory": {"virtual": {"used": 4000, "percent": 55.0}},
           "disk": {"io_sum": {"read_bytes": 110, "write_bytes": 20}},
           "network": {"netio_sum": {"bytes_sent": 6, "bytes_recv": 1007}}}
    s = summarize(start, end, 100.0, 102.0)
    assert s["duration_s"] == 2.0
    assert s["cpu"] == {"user_s": 1.5, "system_s": 0.0, "time_s": 1.5, "percent": 75.0, "system_percent": 95.0}
    assert s["memory"] == {"rss_bytes": float(400 << 20), "rss_delta_bytes": float(300 << 20),
                           "used_delta_bytes": 3000.0, "percent": 55.0}
    assert s["io"] == {"read_bytes": 100.0, "write_bytes": 0.0}
    assert s["network"] == {"bytes_sent": 1.0, "bytes_recv": 1000.0}
    tags = critical_tags(s, {"cpu_percent": 90, "system_cpu_percent": 90, "memory_growth_mb": 256,
                             "duration_s": 5})
    assert tags == ["critical:system_cpu_percent", "critical:memory_growth_mb"]
    assert summarize({"cpu": "odd"}, {"process": None}, None, 1.0) == {}  # odd snapshots: nothing, no error


def test_summary_of_prefers_the_stored_summary() -> None:
    doc = {"telemetry_summary": {"duration_s": 9.0}, "telemetry_at_start": {}, "started_at": 0, "ended_at": 1}
    assert summary_of(doc) == {"duration_s": 9.0}
    assert summary_of({"started_at": 0, "ended_at": 1}) is None
    assert summary_of({"telemetry_at_end": {"memory": {"virtual": {"percent": 12.5}}}})["memory"]["percent"] == 12.5


@pytest.mark.parametrize(("section", "needle"), [
    ({"critical_tags": {"cpu": 90}}, "'cpu'"),
    ({"critical_tags": {"cpu_percent": "high"}}, "critical_tags.cpu_percent"),
    ({"critical_tags": [90]}, "mapping"),
    ({"task_summary": "yes"}, "task_summary"),
])
def test_summary_settings_validation_names_the_bad_value(section: dict, needle: str) -> None:
    with pytest.raises(ValueError, match="telemetry_capture") as info:
        TelemetryConfig.from_settings(section)
    assert needle in str(info.value)


def test_telemetry_task_gets_cpu_time_summary_and_critical_tag_beside_user_tags(tmp_path, monkeypatch) -> None:
    use_settings(tmp_path, monkeypatch, {"telemetry_capture": {
        "cpu": True, "mem": True, "critical_tags": {"cpu_percent": 5, "duration_s": 3600}}})

    @telemetry_flowcept_task(tags=["mine"])
    def burn(n):
        return sum(i * i for i in range(n))

    @flowcept_task(tags=["quick"])
    def idle():
        return 1

    with Flowcept(workflow_name="summary") as fc:
        burn(2_000_000)
        idle()
        msgs = fc.get_buffer()
    (t,) = tasks(msgs, "burn")
    s = t["telemetry_summary"]
    assert s["duration_s"] == pytest.approx(t["ended_at"] - t["started_at"], abs=1e-5)
    assert s["cpu"]["time_s"] > 0 and s["cpu"]["percent"] > 5  # a busy loop, even on a loaded machine
    assert s["cpu"]["time_s"] <= s["duration_s"] * (os.cpu_count() or 1) + 0.01
    assert t["tags"] == ["mine", "critical:cpu_percent"]
    assert "cpu" in t["telemetry_at_start"] and "memory" in t["telemetry_at_end"]
    assert list(t)[-2:] == ["telemetry_at_start", "telemetry_at_end"]  # snapshots end the document
    (q,) = tasks(msgs, "idle")
    assert q["tags"] == ["quick"]
    again = tasks(fc.get_buffer(), "burn")[0]
    assert again["tags"] == ["mine", "critical:cpu_percent"]  # the decorator's own list was not extended


def test_task_summary_can_be_turned_off(tmp_path, monkeypatch) -> None:
    use_settings(tmp_path, monkeypatch, {"telemetry_capture": {"cpu": True, "task_summary": False}})

    @telemetry_flowcept_task
    def f():
        return 1

    with Flowcept(workflow_name="no-summary") as fc:
        f()
        msgs = fc.get_buffer()
    (t,) = tasks(msgs, "f")
    assert "telemetry_summary" not in t and "telemetry_at_end" in t


def test_per_call_readings_decoded_from_a_networked_mq_build_the_same_message() -> None:
    """A packed record crosses msgpack: its (snapshot, user_s, system_s) readings arrive as lists."""
    from types import SimpleNamespace

    from flowcept_core.telemetry import attach_telemetry

    snap0 = {"timestamp": 1.0, "memory": {"virtual": {"used": 100, "percent": 10.0}}}
    snap1 = {"timestamp": 2.0, "memory": {"virtual": {"used": 400, "percent": 12.0}}}
    run = SimpleNamespace(telemetry_cfg=TelemetryConfig(mem=True, critical_tags={"memory_percent": 11}))
    local, remote = {"tags": ["user"]}, {"tags": ["user"]}
    attach_telemetry(local, (snap0, 1.0, 0.5), (snap1, 1.75, 0.5), 10.0, 11.0, run)
    attach_telemetry(remote, [snap0, 1.0, 0.5], [snap1, 1.75, 0.5], 10.0, 11.0, run)
    assert local == remote
    assert local["telemetry_summary"]["cpu"] == {"user_s": 0.75, "system_s": 0.0, "time_s": 0.75, "percent": 75.0}
    assert local["telemetry_summary"]["memory"]["used_delta_bytes"] == 300
    assert local["tags"] == ["user", "critical:memory_percent"]
    assert local["telemetry_at_start"] is snap0 and local["telemetry_at_end"] is snap1


def test_summary_survives_a_networked_mq_into_the_store(tmp_path, monkeypatch) -> None:
    """Over Redis the producer ships packed records; the consumer builds the messages, summary included."""
    pytest.importorskip("flowcept_redis", reason="the redis plugin is not installed")
    pytest.importorskip("flowcept_lmdb", reason="the lmdb plugin is not installed")
    from flowcept_core.stores import close_stores
    from tests.services import OwnRedis

    server = OwnRedis(tmp_path / "redis", persist=False)
    why = server.start()
    if why is not None:
        pytest.skip(f"redis-server could not start: {why}")
    close_stores()
    try:
        use_settings(tmp_path, monkeypatch, {
            "project": {"db_flush_mode": "online"},
            "mq": {"type": "redis", "host": "127.0.0.1", "port": server.port},
            "telemetry_capture": {"cpu": True, "mem": True},
            "databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "db")}}})

        @telemetry_flowcept_task(tags=["remote"])
        def work(n):
            return sum(range(n))

        with Flowcept(workflow_name="over-redis") as fc:
            for _ in range(3):
                work(200_000)
        docs = Flowcept.db.query({"workflow_id": fc.current_workflow_id, "activity_id": "work"})
        assert len(docs) == 3
        for d in docs:
            assert d["telemetry_summary"]["cpu"]["time_s"] >= 0 and d["tags"] == ["remote"]
            assert d["telemetry_summary"]["duration_s"] == pytest.approx(d["ended_at"] - d["started_at"], abs=1e-5)
            assert "cpu" in d["telemetry_at_end"]
    finally:
        close_stores()
        server.stop()


def test_flowcept_task_object_gets_a_summary_when_its_snapshots_differ(tmp_path, monkeypatch) -> None:
    from flowcept import FlowceptTask

    use_settings(tmp_path, monkeypatch, {"telemetry_capture": {"cpu": True, "mem": True, "interval_secs": 0.05,
                                                               "critical_tags": {"duration_s": 0.1}}})
    with Flowcept(workflow_name="objects") as fc:
        deadline = time.monotonic() + 10
        while fc._run.telemetry is None or fc._run.telemetry.snapshot is None:  # the sampler starts in background
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with FlowceptTask(activity_id="slow", used={"x": 1}, tags=["mine"]) as t:
            time.sleep(0.3)  # several sampling intervals: the end snapshot is another reading
            t.end(generated={"y": 2})
        with FlowceptTask(activity_id="instant", used={"x": 1}) as t:
            t.end(generated={"y": 2})
        msgs = fc.get_buffer()
    (slow,) = tasks(msgs, "slow")
    assert slow["telemetry_summary"]["duration_s"] == pytest.approx(slow["ended_at"] - slow["started_at"], abs=1e-5)
    assert slow["telemetry_at_start"]["timestamp"] < slow["telemetry_at_end"]["timestamp"]
    assert slow["tags"] == ["mine", "critical:duration_s"]
    assert list(slow)[-2:] == ["telemetry_at_start", "telemetry_at_end"]
