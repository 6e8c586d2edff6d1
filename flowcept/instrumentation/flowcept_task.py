from flowcept_core.capture.decorators import flowcept_task, lightweight_flowcept_task, telemetry_flowcept_task  # noqa: F401,E501
