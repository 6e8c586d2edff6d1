"""flowcept: capture workflow provenance (tasks, inputs, outputs, timing, telemetry).

    from flowcept import Flowcept, flowcept_task

    @flowcept_task(output_names="y")
    def mult_two(x):
        return 2 * x

    with Flowcept(workflow_name="demo"):
        mult_two(21)

Names are loaded on first use, so ``import flowcept`` stays fast.
"""

from importlib import import_module

from flowcept_core import __version__
from flowcept_core.compat_paths import install as _install_moved_paths

_install_moved_paths()  # upstream paths that do not exist here fail saying what replaced them

_EXPORTS = {
    "Flowcept": "flowcept_core.controller",
    "flowcept_task": "flowcept_core.capture.decorators",
    "lightweight_flowcept_task": "flowcept_core.capture.decorators",
    "telemetry_flowcept_task": "flowcept_core.capture.decorators",
    "flowcept": "flowcept_core.capture.decorators",
    "FlowceptTask": "flowcept_core.capture.task",
    "FlowceptLoop": "flowcept_core.capture.loops",
    "FlowceptLightweightLoop": "flowcept_core.capture.loops",
    "TaskObject": "flowcept_core.schema",
    "WorkflowObject": "flowcept_core.schema",
    "Status": "flowcept_core.schema",
    "BaseConsumer": "flowcept_core.consumers.base",
    "DBAPI": "flowcept_core.query",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> object:  # typing is not imported here: it alone costs more than the rest
    module = _EXPORTS.get(name)
    if module is None:
        if name == "SETTINGS_PATH":
            from flowcept_core.settings import get_settings

            return get_settings().source
        from flowcept_core.plugin_exports import PLUGIN_NAMES, load_name

        if name in PLUGIN_NAMES:  # provided by a plugin distribution: an ImportError naming it when not installed
            value = load_name(name)
            globals()[name] = value
            return value
        from flowcept_core.compat_moved import MOVED_NAMES

        if name in MOVED_NAMES:  # an ImportError, so ``from flowcept import X`` shows this text
            raise ImportError(f"flowcept.{name}: {MOVED_NAMES[name]}",
                              name="flowcept")
        raise AttributeError(f"module 'flowcept' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
