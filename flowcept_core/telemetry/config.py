"""What telemetry to capture: :class:`TelemetryConfig`, built from the settings.yaml ``telemetry_capture`` section."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time (see flowcept_core.capture.context)
if TYPE_CHECKING:
    from typing import Any


__all__ = ["BOOL_KEYS", "NVIDIA_GPU_METRICS", "AMD_GPU_METRICS", "ALLOWED_GPU_METRICS", "CRITICAL_THRESHOLDS",
           "TelemetryConfig"]

BOOL_KEYS: tuple[str, ...] = ("cpu", "per_cpu", "process_info", "mem", "disk", "network", "machine_info")
NVIDIA_GPU_METRICS: frozenset[str] = frozenset({"used", "temperature", "power", "name", "id", "activity"})
AMD_GPU_METRICS: frozenset[str] = frozenset({"activity", "used", "power", "temperature", "others", "name", "id"})
ALLOWED_GPU_METRICS: frozenset[str] = NVIDIA_GPU_METRICS | AMD_GPU_METRICS
# telemetry_capture.critical_tags keys -> what each threshold is compared with (see telemetry.summary)
CRITICAL_THRESHOLDS: dict[str, str] = {
    "cpu_percent": "the task's process CPU utilisation in percent (CPU time / duration)",
    "system_cpu_percent": "the machine's CPU use in percent at the end of the task",
    "memory_percent": "the machine's memory use in percent at the end of the task",
    "memory_growth_mb": "growth of the process RSS (or of used machine memory) during the task, in MiB",
    "duration_s": "the task's duration in seconds",
    "gpu_memory_percent": "the highest GPU memory use in percent at the end of the task",
}


class TelemetryConfig:
    """What to capture; built once from the settings.yaml ``telemetry_capture`` section (immutable).

    ``task_summary`` (default on) adds a ``telemetry_summary`` to every task that has telemetry; ``critical_tags``
    (default off) maps threshold names (:data:`CRITICAL_THRESHOLDS`) to numbers: a finished task above one gets the
    tag ``critical:<name>`` beside its own tags. A plain class, not a dataclass: ``dataclasses`` imports ``inspect``
    (and ``ast``, ``dis``, ``tokenize``), ~7 ms of every run's start-up.
    """

    __slots__ = _FIELDS = ("cpu", "per_cpu", "process_info", "mem", "disk", "network", "machine_info", "gpu",
                           "interval_secs", "task_summary", "critical_tags")
    cpu: bool
    per_cpu: bool
    process_info: bool
    mem: bool
    disk: bool
    network: bool
    machine_info: bool
    gpu: list[str] | None
    interval_secs: float
    task_summary: bool
    critical_tags: dict[str, float] | None

    def __init__(self, cpu: bool = False, per_cpu: bool = False, process_info: bool = False, mem: bool = False,
                 disk: bool = False, network: bool = False, machine_info: bool = False, gpu: list[str] | None = None,
                 interval_secs: float = 1.0, task_summary: bool = True,
                 critical_tags: dict[str, float] | None = None) -> None:
        values = (cpu, per_cpu, process_info, mem, disk, network, machine_info, gpu, interval_secs, task_summary,
                  critical_tags)
        for name, value in zip(self._FIELDS, values, strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"TelemetryConfig is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"TelemetryConfig is immutable: cannot delete {name!r}")

    def _key(self) -> tuple:  # what equality and hashing compare (not critical_tags)
        return tuple(getattr(self, name) for name in self._FIELDS[:-1])

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() == other._key()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, name) for name in self._FIELDS if name not in ("gpu", "critical_tags")))

    def __reduce__(self) -> tuple:
        return (self.__class__, tuple(getattr(self, name) for name in self._FIELDS))

    def __repr__(self) -> str:
        return "TelemetryConfig(" + ", ".join(f"{name}={getattr(self, name)!r}" for name in self._FIELDS) + ")"

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
        summary = section.get("task_summary", True)
        if not isinstance(summary, bool):
            raise ValueError(f"telemetry_capture.task_summary must be a bool (true or false), got {summary!r}")
        kwargs["task_summary"] = summary
        kwargs["critical_tags"] = _parse_critical(section.get("critical_tags"))
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


def _parse_critical(value: Any) -> dict[str, float] | None:
    """Validate ``critical_tags``; returns {threshold name: number} or None when off (None or {})."""
    if value is None:
        return None
    allowed = ", ".join(CRITICAL_THRESHOLDS)
    if not isinstance(value, dict):
        raise ValueError(f"telemetry_capture.critical_tags must be null or a mapping of thresholds ({allowed}), "
                         f"got {value!r}")
    out: dict[str, float] = {}
    for key, limit in value.items():
        if key not in CRITICAL_THRESHOLDS:
            raise ValueError(f"telemetry_capture.critical_tags has unknown threshold {key!r}; allowed: {allowed}")
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit < 0:
            raise ValueError(f"telemetry_capture.critical_tags.{key} must be a non-negative number, got {limit!r}")
        out[key] = float(limit)
    return out or None
