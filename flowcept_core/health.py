"""Liveness of the services the settings name: the MQ (online mode) and each enabled store."""

from __future__ import annotations

from typing import Any

__all__ = ["services_status"]


def services_status(settings: Any) -> dict[str, tuple[bool, str]]:
    """{service: (alive, detail)} for the MQ and every enabled store; never raises."""
    status: dict[str, tuple[bool, str]] = {}
    if settings.get("mq.enabled", True) and settings.get("project.db_flush_mode") == "online":
        name = f"mq:{settings.get('mq.type')}"
        try:
            from flowcept_core.mq import open_mq

            mq = open_mq(settings)
            try:
                status[name] = (bool(mq.liveness_test()), "no answer")
            finally:
                mq.close(0)
        except Exception as e:
            status[name] = (False, f"{type(e).__name__}: {e}")
    from flowcept_core.query import enabled_store_names, open_store

    for store_name in enabled_store_names(settings):
        try:
            store = open_store(settings, store_name)
            status[f"store:{store_name}"] = (bool(store.liveness_test()), "no answer")
        except Exception as e:
            status[f"store:{store_name}"] = (False, f"{type(e).__name__}: {e}")
    return status
