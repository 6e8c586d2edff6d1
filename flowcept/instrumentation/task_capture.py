from flowcept_core.capture.task import FlowceptTask  # noqa: F401
