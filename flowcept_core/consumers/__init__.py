"""Consumers: BaseConsumer (subscribe, listen, dispatch to message_handler, stop when it returns False)."""

from flowcept_core.consumers.base import BaseConsumer

__all__ = ["BaseConsumer"]
