from flowcept_core.consumers.base import BaseConsumer  # noqa: F401
