"""Hook implementations of flowcept-mongodb (entry point ``mongodb`` in group ``flowcept``).

Listing plugins imports only this module: pymongo and the store are imported when ``databases.mongodb.enabled`` is
true and a store is opened.
"""

from __future__ import annotations

from typing import Any

from flowcept_core.hookspecs import StoreSpec, hookimpl

__all__ = ["flowcept_stores", "mongodb_factory", "SETTINGS_MODEL"]

# The databases.mongodb.* keys this store reads, with their types.
SETTINGS_MODEL = {
    "enabled": bool,
    "uri": str,
    "host": str,
    "port": int,
    "db": str,
    "create_collection_index": bool,
    "native_queries": (bool, str),  # true, false or "auto"
}


def mongodb_factory(settings: Any) -> Any:
    """Build a connected MongoDBStore; called by flowcept_core.stores.open_store(settings, "mongodb").

    Raises ImportError with an install hint when pymongo is missing, StoreUnavailableError when no server answers,
    StoreError for a bad setting.
    """
    try:
        import pymongo  # noqa: F401  (checked here so the hint names the missing piece)
    except ImportError as e:
        raise ImportError(
            f"the mongodb store needs the pymongo client library ({e}); install it with: pip install flowcept[mongodb]"
        ) from e
    from flowcept_mongodb.store import MongoDBStore

    return MongoDBStore(settings)


@hookimpl
def flowcept_stores() -> list[StoreSpec]:
    """The ``mongodb`` store: one collection per document kind, unique index on each id field."""
    return [
        StoreSpec(
            "mongodb",
            mongodb_factory,
            SETTINGS_MODEL,
            "MongoDB (pymongo): collections tasks/workflows/objects/agents, merged upserts by id, indexed queries",
        )
    ]
