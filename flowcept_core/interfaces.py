"""What the core expects of each plugin kind (Protocols), what an interceptor gets (Emitter), and the Interceptor
base class that gives every interceptor idempotent start/stop.

Plugins import these through ``flowcept_core.plugin``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["Subscription", "MQBackend", "InProcessMQBackend", "Store", "Emitter", "Interceptor"]


@runtime_checkable
class Subscription(Protocol):
    """A consumer's view of a channel."""

    def receive(self, timeout: float) -> list[dict]:
        """Messages delivered since the last call (possibly empty after waiting up to timeout seconds)."""

    def ack(self) -> None:
        """Acknowledge everything received so far (no redelivery after a restart)."""

    def close(self) -> None:
        """Stop receiving; idempotent."""


@runtime_checkable
class MQBackend(Protocol):
    """Publishes batches of message dicts and hands out subscriptions. Built by MQBackendSpec.factory.

    What the core reads of a backend is what this Protocol declares, nothing else:

    ``name``: the ``mq.type`` it answers to.
    ``in_process``: True only for a backend whose subscribers receive the published dicts themselves (the memory
    MQ, an ``InProcessMQBackend``); producers then skip packing and consumers copy before changing a message.
    Networked backends set it to False. Required: ``open_mq`` refuses a backend without it.
    """

    name: str
    in_process: bool

    def publish(self, messages: list[dict]) -> None:
        """Send one batch (networked backends: one broker message, ``encode_batch``).

        Called from the flusher thread, never from a decorated call. Raises MQError when the broker refuses it.
        """

    def ensure_group(self, name: str) -> None:
        """Create the durable group name if missing, positioned at the end of the channel (idempotent).

        Producers call it at start for the persistence group, so nothing they publish is missed by a late consumer.
        """

    def subscribe(self, group: str | None = None) -> Subscription:
        """A new subscription to this backend's channel.

        group None: a private subscription receiving every message published after subscribe() returned.
        group "name": members of the same group share the messages (each to one member); the group keeps its
        position across restarts, and what a member received but did not ack is delivered again to the group.
        """

    def liveness_test(self) -> bool:
        """True when the broker answers."""

    def close(self, timeout: float | None = None) -> int:
        """Deliver what is pending (up to timeout seconds), release resources, return the undelivered count."""


class InProcessMQBackend(MQBackend, Protocol):
    """An MQBackend with ``in_process = True`` (the built-in memory MQ): what the core reads of it besides the
    MQBackend members."""

    def only_group(self, name: str) -> bool:
        """True when group name's queue is the only one receiving what is published on this channel (a run may
        then hand its task records to that group's consumer directly)."""


@runtime_checkable
class Store(Protocol):
    """A document store built by StoreSpec.factory(settings). Collections: tasks, workflows, objects, agents.

    Documents are identified by ID_FIELDS (task_id, workflow_id, ...) and returned exactly as stored (no
    store-specific fields such as MongoDB's _id). Must be safe to use from several threads.

    Optional: ``aggregate(collection, filter, aggregation, group_by=None, sort=None, limit=0) -> list[dict]``,
    returning exactly what ``aggregate(store.find(collection, filter), aggregation, group_by, sort, limit)`` returns.
    DBAPI.query uses it for aggregations when present; without it, aggregations are computed in Python over find().
    """

    name: str

    def upsert(self, collection: str, docs: list[dict]) -> None:
        """Merge each doc into the stored one with the same id (merge_documents), all or nothing per call.
        Raises StoreUnavailableError (retryable) or StoreError; then nothing of the call is kept."""

    def find(self, collection: str, filter: dict | None = None, projection: Any = None, limit: int = 0,
             sort: Any = None) -> list[dict]:
        """Documents matching a MongoDB-style filter (the core's filter semantics), projected, sorted, limited."""

    def count(self, collection: str, filter: dict | None = None) -> int:
        """How many documents match."""

    def delete(self, collection: str, filter: dict) -> int:
        """Delete matching documents; returns how many."""

    def liveness_test(self) -> bool:
        """True when the store answers; never raises."""

    def close(self) -> None:
        """Release resources; idempotent."""


@runtime_checkable
class Emitter(Protocol):
    """What a started interceptor may do with the run it feeds. Safe to call from any thread.

    Example::

        emitter.emit_task(activity_id="train", used={"lr": 0.1}, generated={"loss": 0.2}, status="FINISHED")
    """

    @property
    def workflow_id(self) -> str:
        """The current workflow's id (every emitted task carries it unless it names another)."""

    @property
    def campaign_id(self) -> str | None:
        """The current campaign's id."""

    def emit(self, message: dict) -> None:
        """Deliver a ready message dict (built with task_message/workflow_message) like every captured message."""

    def emit_task(self, **fields: Any) -> dict:
        """Build a task message (task_message, with this run's workflow and campaign ids) and emit it; returns it."""

    def emit_workflow(self, **fields: Any) -> dict:
        """Build and emit a workflow message (workflow_message; workflow_id defaults to the current one)."""

    def add_workflow_fields(self, **fields: Any) -> None:
        """Add fields to the current workflow's record (e.g. the adapter's configuration); merged by workflow_id."""


# the base class lives apart: importing this module imports typing (its Protocols), which the default start-up skips
from flowcept_core.interceptor_base import Interceptor  # noqa: E402
