from flowcept_core.capture.decorators import flowcept  # noqa: F401
