"""Hooks of flowcept-lmdb (entry point ``lmdb``): the spec only; the registry imports the store when it is opened."""

from __future__ import annotations

from typing import Any

from flowcept_core.plugin import Key, SettingsError, SettingsSection, StoreSpec, hookimpl

__all__ = ["flowcept_stores", "SETTINGS"]


def _check(values: dict[str, Any]) -> None:
    if values.get("enabled") and not values.get("path"):
        raise SettingsError(f"settings key databases.lmdb.enabled is true but databases.lmdb.path is "
                            f"{values.get('path')!r}; give a directory path or disable lmdb")

# databases.lmdb.*; sizes are bytes or strings such as "2GiB" (null: 1 GiB growing to 64 GiB)
SETTINGS = SettingsSection("databases.lmdb", {
    "enabled": Key(bool, False),
    "path": Key((str, type(None))),  # the directory; null while enabled is an error
    "map_size": Key((int, str, type(None))),
    "max_map_size": Key((int, str, type(None))),
    "max_readers": Key((int, type(None)), minimum=1),
}, check=_check)


@hookimpl
def flowcept_stores() -> list[StoreSpec]:
    """Called when the registry collects stores; returns the ``lmdb`` spec."""
    return [StoreSpec("lmdb", "flowcept_lmdb.store:LMDBStore", SETTINGS,
                      "LMDB (embedded, no server): msgpack documents, indexes on workflow_id/campaign_id/parent ids",
                      requires=("lmdb", "msgpack"), extra="lmdb", read_preference=20)]
