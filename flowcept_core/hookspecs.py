"""Every plugin hook, and only hooks. Entry-point group: ``flowcept``.

A plugin distribution exposes a module with ``@hookimpl`` functions and registers it in its pyproject::

    [project.entry-points.flowcept]
    redis = "flowcept_redis.hooks"

Each hook returns spec records. Factories are called only when a user picks that name, so heavy imports belong
inside them: listing plugins stays cheap, and a missing library fails only when chosen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import pluggy

__all__ = [
    "hookspec", "hookimpl", "PROJECT_NAME", "MQBackendSpec", "InterceptorSpec", "StoreSpec", "ConsumerSpec",
    "MQBackend", "Subscription", "Interceptor", "Store", "flowcept_mq_backends", "flowcept_interceptors",
    "flowcept_stores", "flowcept_consumers",
]

PROJECT_NAME = "flowcept"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@dataclass(frozen=True)
class _Spec:
    name: str
    factory: Callable[..., Any]
    settings_model: Mapping[str, Any] | None = None
    summary: str = ""
    extras: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MQBackendSpec(_Spec):
    """An MQ backend selected by ``mq.type``. ``factory(settings, channel=None) -> MQBackend``."""


@dataclass(frozen=True)
class InterceptorSpec(_Spec):
    """An interceptor selected by name in ``Flowcept(interceptors=[...])``.

    ``factory(settings, **kwargs) -> Interceptor``; kwargs are the adapter-specific Flowcept(...) kwargs.
    """


@dataclass(frozen=True)
class StoreSpec(_Spec):
    """A store enabled under ``databases.<name>``. ``factory(settings) -> store``."""


@dataclass(frozen=True)
class ConsumerSpec(_Spec):
    """A consumer started with the persistence services. ``factory(settings) -> BaseConsumer``."""


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
    """Publishes batches of message dicts and hands out subscriptions. Built by MQBackendSpec.factory."""

    name: str

    def publish(self, messages: list[dict]) -> None:
        """Send one batch (networked backends: one broker message, flowcept_core.wire.encode_batch).

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


@runtime_checkable
class Store(Protocol):
    """A document store built by StoreSpec.factory(settings). Collections: tasks, workflows, objects, agents.

    Documents are identified by flowcept_core.documents.ID_FIELDS (task_id, workflow_id, ...) and returned exactly as
    stored (no store-specific fields such as MongoDB's _id). Must be safe to use from several threads.

    Optional: ``aggregate(collection, filter, aggregation, group_by=None, sort=None, limit=0) -> list[dict]``,
    returning exactly what ``flowcept_core.aggregate.aggregate(store.find(collection, filter), aggregation, group_by,
    sort, limit)`` returns. DBAPI.query uses it for aggregations when present (a store with a query engine can group
    where the data is instead of shipping every matching document to Python); without it, aggregations are computed
    in Python over find().
    """

    name: str

    def upsert(self, collection: str, docs: list[dict]) -> None:
        """Merge each doc into the stored one with the same id (flowcept_core.documents.merge_documents), all or
        nothing per call. Raises StoreUnavailableError (retryable) or StoreError; then nothing of the call is kept."""

    def find(self, collection: str, filter: dict | None = None, projection: Any = None, limit: int = 0,
             sort: Any = None) -> list[dict]:
        """Documents matching a MongoDB-style filter (flowcept_core.filters semantics), projected, sorted, limited."""

    def count(self, collection: str, filter: dict | None = None) -> int:
        """How many documents match."""

    def delete(self, collection: str, filter: dict) -> int:
        """Delete matching documents; returns how many."""

    def liveness_test(self) -> bool:
        """True when the store answers; never raises."""

    def close(self) -> None:
        """Release resources; idempotent."""


@runtime_checkable
class Interceptor(Protocol):
    """Observes something (function calls, a Dask cluster, an MLflow store) and emits messages into a run."""

    kind: str

    def start(self, run: Any) -> None:
        """Begin observing; emit messages with run.emit(dict)."""

    def stop(self) -> None:
        """Stop observing; emit anything pending before returning."""


@hookspec
def flowcept_mq_backends() -> Iterable[MQBackendSpec]:
    """Return the MQ backends this plugin provides."""


@hookspec
def flowcept_interceptors() -> Iterable[InterceptorSpec]:
    """Return the interceptors (adapters) this plugin provides."""


@hookspec
def flowcept_stores() -> Iterable[StoreSpec]:
    """Return the stores (databases) this plugin provides."""


@hookspec
def flowcept_consumers() -> Iterable[ConsumerSpec]:
    """Return custom consumers started with the persistence services."""
