from flowcept_core.capture.loops import FlowceptLightweightLoop, FlowceptLoop  # noqa: F401
