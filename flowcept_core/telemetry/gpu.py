"""GPU telemetry: NVIDIA through nvidia-ml-py (``pynvml``), AMD through ``amdsmi``; absent otherwise.

Reading and converting are separate: :func:`read_gpus` asks the vendor library for raw readings (plain dicts, one
per visible device, as :func:`nvidia_reading` / :func:`amd_reading` record them), and :func:`gpu_telemetry` turns
readings into the ``gpu`` part of a telemetry snapshot (``{"gpu_<index>": {metric: value}}``, upstream's layout).
Readings recorded on a real machine can therefore be converted (and tested) anywhere.

Neither library is imported until a GPU metric is requested; when none is usable, one line is logged, once.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
from collections.abc import Iterable
from typing import Any

__all__ = ["gpu_backend", "visible_gpu_indices", "nvidia_reading", "amd_reading", "read_gpus", "gpu_telemetry",
           "gpu_names"]

logger = logging.getLogger("flowcept_core.telemetry")


def _plain(value: Any) -> Any:
    """Called on library results; returns value as plain JSON types (bytes decoded, structs as dicts, rest str)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    fields = getattr(value, "_fields_", None)  # ctypes structs of nvidia-ml-py (c_nvmlMemory_t, ...)
    if fields:
        return {name: _plain(getattr(value, name)) for name, *_ in fields}
    return str(value)


@functools.cache
def gpu_backend() -> tuple[str, Any] | None:
    """Called on the first GPU capture; returns ("nvidia", pynvml) or ("amd", amdsmi), detected once, or None.

    When neither library imports and initialises, logs one info line saying so and returns None ever after.
    """
    reasons = []
    for kind, module, init in (("nvidia", "pynvml", "nvmlInit"), ("amd", "amdsmi", "amdsmi_init")):
        try:
            lib = importlib.import_module(module)
            getattr(lib, init)()
            return kind, lib
        except Exception as exc:
            reasons.append(f"{module}: {exc!r}")
    logger.info("telemetry: GPU metrics requested but no GPU library is usable (%s); install nvidia-ml-py for "
                "NVIDIA or amdsmi for AMD GPUs. GPU telemetry is left out.", "; ".join(reasons))
    return None


def visible_gpu_indices(env_value: str | None, count: int, uuids: list[str] | None = None) -> list[int]:
    """Called per capture with CUDA_VISIBLE_DEVICES (or ROCR/HIP_VISIBLE_DEVICES); returns the physical indices.

    ``None`` means all ``count`` devices; ``""`` means none. Entries are indices or UUID prefixes (``GPU-8f1c``);
    like the CUDA runtime, the list stops at the first entry that names no device.
    """
    if env_value is None:
        return list(range(count))
    out: list[int] = []
    for entry in (e.strip() for e in env_value.split(",")):
        if entry.isdigit() and int(entry) < count:
            index = int(entry)
        else:
            index = next((i for i, u in enumerate(uuids or ()) if entry and u.startswith(entry)), -1)
        if index < 0 or index in out:
            break
        out.append(index)
    return out


def nvidia_reading(nv: Any, handle: Any, index: int, metrics: Iterable[str]) -> dict:
    """Called per NVIDIA device and capture; returns the raw reading of the metrics asked for (plain types).

    Keys: index, memory (total/free/used bytes), utilization (gpu/memory percent), temperature (C), power (mW),
    name, uuid. A reading the device does not support is left out.
    """
    calls = {
        "used": ("memory", lambda: nv.nvmlDeviceGetMemoryInfo(handle)),
        "activity": ("utilization", lambda: nv.nvmlDeviceGetUtilizationRates(handle)),
        "temperature": ("temperature", lambda: nv.nvmlDeviceGetTemperature(handle, nv.NVML_TEMPERATURE_GPU)),
        "power": ("power", lambda: nv.nvmlDeviceGetPowerUsage(handle)),
        "name": ("name", lambda: nv.nvmlDeviceGetName(handle)),
        "id": ("uuid", lambda: nv.nvmlDeviceGetUUID(handle)),
    }
    return _read(calls, metrics, index, "nvidia")


def amd_reading(amd: Any, handle: Any, index: int, metrics: Iterable[str]) -> dict:
    """Called per AMD device and capture; returns the raw reading of the metrics asked for (plain types)."""
    calls = {
        "used": ("vram", lambda: amd.amdsmi_get_gpu_vram_usage(handle)),
        "activity": ("activity", lambda: amd.amdsmi_get_gpu_activity(handle)),
        "power": ("power", lambda: amd.amdsmi_get_power_info(handle)),
        "temperature": ("temperature", lambda: amd.amdsmi_get_temp_metric(
            handle, amd.AmdSmiTemperatureType.EDGE, amd.AmdSmiTemperatureMetric.CURRENT)),
        "others": ("metrics", lambda: amd.amdsmi_get_gpu_metrics_info(handle)),
        "name": ("asic", lambda: amd.amdsmi_get_gpu_asic_info(handle)),
        "id": ("uuid", lambda: amd.amdsmi_get_gpu_device_uuid(handle)),
    }
    return _read(calls, metrics, index, "amd")


def _read(calls: dict, metrics: Iterable[str], index: int, kind: str) -> dict:
    out: dict[str, Any] = {"index": index}
    for metric in metrics:
        if metric in calls:  # metrics of the other vendor are ignored
            key, call = calls[metric]
            try:
                out[key] = _plain(call())
            except Exception as exc:  # telemetry must never raise
                logger.debug("telemetry: %s gpu %d %s unavailable: %r", kind, index, metric, exc)
    return out


def _devices(kind: str, lib: Any) -> list[tuple[int, Any]]:
    """Called per capture; returns (physical index, handle) of each visible device."""
    if kind == "nvidia":
        handles = [lib.nvmlDeviceGetHandleByIndex(i) for i in range(lib.nvmlDeviceGetCount())]
        env = os.environ.get("CUDA_VISIBLE_DEVICES")
        uuids = [_plain(lib.nvmlDeviceGetUUID(h)) for h in handles] if env and "GPU-" in env else None
    else:
        handles = list(lib.amdsmi_get_processor_handles())
        env = os.environ.get("ROCR_VISIBLE_DEVICES", os.environ.get("HIP_VISIBLE_DEVICES"))
        uuids = None
    return [(i, handles[i]) for i in visible_gpu_indices(env, len(handles), uuids)]


def read_gpus(metrics: list[str]) -> tuple[str, list[dict]] | None:
    """Called per capture when GPU metrics are on; returns (vendor, raw readings) or None without a GPU library."""
    backend = gpu_backend()
    if backend is None:
        return None
    kind, lib = backend
    read = nvidia_reading if kind == "nvidia" else amd_reading
    return kind, [read(lib, handle, index, metrics) for index, handle in _devices(kind, lib)]


def _nvidia_metrics(r: dict) -> dict:
    out: dict[str, Any] = {}
    if "memory" in r:
        out["used"] = r["memory"].get("used")
        out["total"] = r["memory"].get("total")
    if "utilization" in r:
        out["activity"] = r["utilization"].get("gpu")
        out["memory_activity"] = r["utilization"].get("memory")
    for raw, key in (("temperature", "temperature"), ("power", "power"), ("name", "name"), ("uuid", "id")):
        if raw in r:
            out[key] = r[raw]
    return out


def _amd_metrics(r: dict) -> dict:
    out: dict[str, Any] = {}
    if "vram" in r:
        out["used"] = r["vram"].get("vram_used")
        out["total"] = r["vram"].get("vram_total")
    if "activity" in r:
        out["activity"] = r["activity"]
    if "power" in r:
        out["power"] = r["power"]
    if "temperature" in r:
        out["temperature"] = r["temperature"]
    if "metrics" in r:
        out["others"] = {k: v for k, v in r["metrics"].items() if k.startswith("current_")}
    if "asic" in r:
        out["name"] = r["asic"].get("market_name")
    if "uuid" in r:
        out["id"] = r["uuid"]
    return out


def gpu_telemetry(kind: str, readings: list[dict]) -> dict:
    """Called on the readings of :func:`read_gpus`; returns the ``gpu`` part: {"gpu_<index>": {metric: value}}.

    NVIDIA units: used/total bytes, temperature C, power mW, activity percent. AMD values are amdsmi's dicts
    (``activity`` gfx/umc/mm percent, ``power`` with socket power in W), ``used``/``total`` in MiB as amdsmi reports.
    Values the device did not report are None or absent; ``gpu_ix`` repeats the physical index.
    """
    convert = _nvidia_metrics if kind == "nvidia" else _amd_metrics
    out = {}
    for r in readings:
        dev = {"gpu_ix": r["index"], **convert(r)}
        out[f"gpu_{r['index']}"] = {k: v for k, v in dev.items() if v is not None}
    return out


def gpu_names() -> list[str] | None:
    """Called by machine_info when gpu is on; returns the visible GPUs' names, or None without a GPU library."""
    got = read_gpus(["name"])
    if got is None:
        return None
    kind, readings = got
    return [d.get("name") for d in gpu_telemetry(kind, readings).values()]
