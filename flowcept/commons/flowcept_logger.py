from flowcept_core.compat import FlowceptLogger  # noqa: F401
