"""The ``instrumentation.torch`` section as a decorated model reads it when it is built.

``null`` is meaningful here (as upstream Flowcept reads the section): ``what: ~`` records no forward and
``epoch_loop: ~`` / ``batch_loop: ~`` make those loops plain iterables. A key left out takes its default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flowcept_core.plugin import get_logger
from flowcept_torch.hooks import SETTINGS

__all__ = ["TorchSettings", "current_settings"]


@dataclass(frozen=True)
class TorchSettings:
    """What to record: ``enabled`` is ``instrumentation.enabled``; the rest mirror ``instrumentation.torch``."""

    enabled: bool = True
    what: str | None = "parent_only"
    children_mode: str = "tensor_inspection"
    epoch_loop: str | None = "default"
    batch_loop: str | None = "lightweight"
    capture_epochs_at_every: int = 1
    register_workflow: bool = True

    @property
    def children(self) -> bool:
        """True when direct child modules' forwards are recorded too."""
        return self.what == "parent_and_children"

    @classmethod
    def from_settings(cls, settings: Any) -> TorchSettings:
        """Read and check the section; raises SettingsError naming a bad key, its value and the allowed ones."""
        for warning in SETTINGS.validate(settings):
            get_logger().warning(warning)
        given = settings.section(SETTINGS.path)
        values = SETTINGS.values(settings)
        for nullable in ("what", "epoch_loop", "batch_loop"):
            if nullable in given and given[nullable] is None:
                values[nullable] = None
        return cls(enabled=bool(settings.get("instrumentation.enabled", True)), **values)


def current_settings() -> TorchSettings:
    """The section of the active run's settings, else of the process settings."""
    from flowcept_core.plugin import CAPTURE_STATE, get_settings

    run = CAPTURE_STATE.run
    settings = getattr(run, "settings", None) if run is not None else None
    return TorchSettings.from_settings(settings if settings is not None else get_settings())
