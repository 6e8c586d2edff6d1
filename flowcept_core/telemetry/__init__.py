"""Host, process and GPU telemetry for Flowcept task and workflow messages.

``config`` (what to capture, from ``telemetry_capture``), ``capture`` (psutil snapshots, machine info), ``gpu``
(NVIDIA/AMD readings and their conversion), ``sampler`` (the background sampler and the per-call reading) and
``summary`` (per-task summaries and critical tags). Names are loaded on first use: importing this package (which the
decorators do) imports no submodule, nor psutil, nor a GPU library.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: it costs more than the rest of `import flowcept`
if TYPE_CHECKING:
    from typing import Any


_WHERE = {
    "ALLOWED_GPU_METRICS": "config", "AMD_GPU_METRICS": "config", "BOOL_KEYS": "config",
    "CRITICAL_THRESHOLDS": "config", "NVIDIA_GPU_METRICS": "config", "TelemetryConfig": "config",
    "capture_telemetry": "capture", "machine_info": "capture",
    "TelemetrySampler": "sampler", "fresh_reading": "sampler",
    "attach_telemetry": "summary", "critical_tags": "summary", "summarize": "summary", "summary_of": "summary",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    """Called for a name not yet loaded; imports its submodule and returns the name (AttributeError if unknown)."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'flowcept_core.telemetry' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"flowcept_core.telemetry.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
