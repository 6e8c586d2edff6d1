"""Hooks of flowcept-lmdb (entry point ``lmdb``): the spec only; the registry imports the store when it is opened."""

from __future__ import annotations

from flowcept_core.plugin import Key, SettingsSection, StoreSpec, hookimpl

__all__ = ["flowcept_stores", "SETTINGS"]

# databases.lmdb.*; sizes are bytes or strings such as "2GiB" (null: 1 GiB growing to 64 GiB)
SETTINGS = SettingsSection("databases.lmdb", {
    "enabled": Key(bool, False),
    "path": Key((str, type(None)), "flowcept_lmdb"),
    "map_size": Key((int, str, type(None))),
    "max_map_size": Key((int, str, type(None))),
    "max_readers": Key((int, type(None)), minimum=1),
})


@hookimpl
def flowcept_stores() -> list[StoreSpec]:
    """Called when the registry collects stores; returns the ``lmdb`` spec."""
    return [StoreSpec("lmdb", "flowcept_lmdb.store:LMDBStore", SETTINGS,
                      "LMDB (embedded, no server): msgpack documents, indexes on workflow_id/campaign_id/parent ids",
                      requires=("lmdb", "msgpack"), extra="lmdb", read_preference=20)]
