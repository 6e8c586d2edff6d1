"""Hook implementations of flowcept-lmdb (entry point ``lmdb`` in group ``flowcept``).

Listing plugins imports only this module: lmdb, msgpack and the store are imported when ``databases.lmdb.enabled``
is true and the store is opened (flowcept_core.stores.open_store).
"""

from __future__ import annotations

from typing import Any

from flowcept_core.hookspecs import StoreSpec, hookimpl

__all__ = ["flowcept_stores", "lmdb_factory", "SETTINGS_MODEL"]

# The databases.lmdb.* keys this store reads, with their types (sizes also accept strings such as "2GiB").
SETTINGS_MODEL = {
    "enabled": bool,
    "path": str,
    "map_size": int,
    "max_map_size": int,
    "max_readers": int,
}


def lmdb_factory(settings: Any) -> Any:
    """Build an LMDBStore from ``databases.lmdb.*``; called by open_store when the lmdb store is enabled.

    Raises ImportError with an install hint when lmdb or msgpack is missing, StoreError for bad settings.
    """
    try:
        import lmdb  # noqa: F401  (checked here so the hint names the missing piece)
        import msgpack  # noqa: F401
    except ImportError as e:
        raise ImportError(
            f"the lmdb store needs the lmdb and msgpack libraries ({e}); install them with: pip install flowcept[lmdb]"
        ) from e
    from flowcept_lmdb.store import LMDBStore

    return LMDBStore(settings)


@hookimpl
def flowcept_stores() -> list[StoreSpec]:
    """The ``lmdb`` store: one LMDB environment per path, msgpack documents, posting-list indexes."""
    return [
        StoreSpec(
            "lmdb",
            lmdb_factory,
            SETTINGS_MODEL,
            "LMDB (embedded, no server): msgpack documents, indexes on workflow_id/campaign_id/parent ids",
        )
    ]
