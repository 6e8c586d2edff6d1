from flowcept_core.capture.context import current_parent_id as get_current_context_task_id  # noqa: F401
from flowcept_core.capture.decorators import flowcept_task, lightweight_flowcept_task, telemetry_flowcept_task  # noqa: F401,E501
