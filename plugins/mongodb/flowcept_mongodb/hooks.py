"""Hooks of flowcept-mongodb (entry point ``mongodb``): the spec only; the registry imports the store when it is
opened."""

from __future__ import annotations

from flowcept_core.plugin import Key, SettingsSection, StoreSpec, hookimpl

__all__ = ["flowcept_stores", "SETTINGS"]

# databases.mongodb.*; native_queries: the server evaluates whole queries (true), only what every MongoDB-compatible
# server evaluates alike with Python finishing (false), or true on real MongoDB only ("auto")
SETTINGS = SettingsSection("databases.mongodb", {
    "enabled": Key(bool, False),
    "uri": Key((str, type(None))),
    "host": Key(str, "localhost"),
    "port": Key(int, 27017, minimum=1),
    "db": Key(str, "flowcept"),
    "create_collection_index": Key(bool, True),
    "native_queries": Key((bool, str), "auto", choices=("auto", True, False)),
})


@hookimpl
def flowcept_stores() -> list[StoreSpec]:
    """Called when the registry collects stores; returns the ``mongodb`` spec."""
    return [StoreSpec("mongodb", "flowcept_mongodb.store:MongoDBStore", SETTINGS,
                      "MongoDB (pymongo): collections tasks/workflows/objects/agents, merged upserts by id, indexed "
                      "queries", requires=("pymongo",), extra="mongodb", read_preference=10)]
