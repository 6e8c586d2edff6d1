"""Constants of the message format, defined once: statuses, message types, the stream markers.

Plain strings (``Status`` in flowcept_core.schema is the enum view of the same values): importing this module costs
nothing, so capture code and consumers compare against these names.

A producer opens its stream with ``{"type": CONTROL_TYPE, "info": START_OF_STREAM, "producer_id": ...}`` and closes
it with ``{"type": CONTROL_TYPE, "info": END_OF_STREAM, ..., "message_count": n}``
(see flowcept_core.consumers.streams).
"""

__all__ = [
    "SUBMITTED",
    "WAITING",
    "RUNNING",
    "FINISHED",
    "ERROR",
    "UNKNOWN",
    "STATUSES",
    "TERMINAL_STATUSES",
    "TASK",
    "WORKFLOW",
    "OBJECT",
    "AGENT",
    "CONTROL_TYPE",
    "MESSAGE_TYPES",
    "START_OF_STREAM",
    "END_OF_STREAM",
    "STREAM_MARKERS",
]

# statuses of tasks and workflows
SUBMITTED = "SUBMITTED"
WAITING = "WAITING"
RUNNING = "RUNNING"
FINISHED = "FINISHED"
ERROR = "ERROR"
UNKNOWN = "UNKNOWN"
STATUSES = (SUBMITTED, WAITING, RUNNING, FINISHED, ERROR, UNKNOWN)
TERMINAL_STATUSES = frozenset({FINISHED, ERROR})  # a later RUNNING/SUBMITTED does not reopen these

# message types (the "type" field)
TASK = "task"
WORKFLOW = "workflow"
OBJECT = "object"
AGENT = "agent"
CONTROL_TYPE = "flowcept_control"
MESSAGE_TYPES = (TASK, WORKFLOW, OBJECT, AGENT, CONTROL_TYPE)

# the "info" of control messages
START_OF_STREAM = "start_of_stream"
END_OF_STREAM = "end_of_stream"
STREAM_MARKERS = (START_OF_STREAM, END_OF_STREAM)
