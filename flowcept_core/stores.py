"""Stores: errors, which are enabled, and opening them (one shared instance per process and configuration).

A store is a plugin (hook ``flowcept_stores``) whose factory(settings) returns an object following
flowcept_core.plugin.Store. Writes go to every enabled store; reads use the enabled store with the lowest
``read_preference`` in its StoreSpec (MongoDB before LMDB), then by name.
"""

from __future__ import annotations

import threading
from typing import Any

from flowcept_core.runtime import RUNTIME

__all__ = ["StoreError", "StoreUnavailableError", "NoDatabaseError", "enabled_store_names", "open_store", "sync_stores",
           "read_store_name", "close_stores"]


class StoreError(RuntimeError):
    """A store refused an operation (the message names the setting or value involved)."""


class StoreUnavailableError(StoreError):
    """The store cannot be reached or written right now (server down, disk full); retrying later may succeed."""


class NoDatabaseError(StoreError):
    """A query was made while no store is enabled in the settings."""


def enabled_store_names(settings: Any) -> list[str]:
    """Names under ``databases`` whose ``enabled`` is true, in read-preference order (StoreSpec.read_preference).

    A store enabled only by the built-in defaults (LMDB) whose plugin is not installed is left out with a warning:
    the zero-configuration default degrades to "no persistence" instead of failing. Asked for explicitly, a missing
    plugin is an error when the store is opened.
    """
    dbs = settings.section("databases")
    names = [n for n, sec in dbs.items() if isinstance(sec, dict) and sec.get("enabled")]
    if not names:
        return []
    names = [n for n in names if _available_or_explicit(settings, n)]
    if len(names) < 2:
        return names
    from flowcept_core.registry import get_registry

    preference = {p.name: p.spec.read_preference for p in get_registry().provided("store")}
    return sorted(names, key=lambda n: (preference.get(n, 100), n))


def _available_or_explicit(settings: Any, name: str) -> bool:
    is_explicit = getattr(settings, "is_explicit", None)
    if is_explicit is None or is_explicit(f"databases.{name}.enabled"):
        return True
    from flowcept_core.registry import get_registry

    if name in get_registry().names("store"):
        return True
    if f"store plugin missing: {name}" not in RUNTIME.warned:
        RUNTIME.warned.add(f"store plugin missing: {name}")
        from flowcept_core.health import store_install_hint
        from flowcept_core.settings import warn_settings

        warn_settings(f"databases.{name} is on by default but its plugin is not installed, so nothing is stored "
                      f"and Flowcept.db cannot answer; install it with: {store_install_hint(name)}")
    return False


def read_store_name(settings: Any) -> str:
    names = enabled_store_names(settings)
    if not names:
        raise NoDatabaseError("no database is enabled: set databases.lmdb.enabled or databases.mongodb.enabled to "
                              "true in settings.yaml to query provenance (or read the buffer file with "
                              "Flowcept.read_buffer_file())")
    return names[0]


_open = RUNTIME.stores  # cleared in place, never replaced
_lock = threading.Lock()


def open_store(settings: Any, name: str) -> Any:
    """The store for name under these settings; the same instance for the same configuration in this process
    (an LMDB environment may be opened only once per process)."""
    key = (name, repr(sorted((settings.section("databases").get(name) or {}).items())))
    with _lock:
        store = _open.get(key)
        if store is None:
            from flowcept_core.registry import get_registry

            store = _open[key] = get_registry().resolve("store", name).factory(settings)
        return store


def close_stores() -> None:
    """Close every open store (tests, or before forking)."""
    with _lock:
        for store in _open.values():
            try:
                store.close()
            except Exception:
                pass
        _open.clear()


def sync_stores(stores: list[Any]) -> None:
    """Make what the stores hold durable, for those that defer it (a store's optional sync()); failures logged."""
    for store in stores:
        sync = getattr(store, "sync", None)
        if sync is not None:
            try:
                sync()
            except Exception as e:
                from flowcept_core.logger import get_logger

                get_logger().error(f"could not sync {store!r}: {type(e).__name__}: {e}")
