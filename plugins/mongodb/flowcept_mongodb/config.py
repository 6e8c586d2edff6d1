"""The databases.mongodb.* settings as one checked object, and how errors name them without leaking credentials."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from flowcept_core.plugin import StoreError

__all__ = ["MongoDBConfig", "mask_uri", "SERVER_SELECTION_TIMEOUT_MS"]

SERVER_SELECTION_TIMEOUT_MS = 5000
_DEFAULTS = {
    "uri": None,
    "host": "localhost",
    "port": 27017,
    "db": "flowcept",
    "create_collection_index": True,
    "native_queries": "auto",
}
# MongoDB forbids these in database names (plus the empty name and names of 64 bytes or more).
_BAD_DB_CHARS = set('/\\. "$*<>:|?\x00')
_USERINFO = re.compile(r"^([a-z][a-z0-9+.-]*://)([^@/]*)@", re.IGNORECASE)


def mask_uri(uri: str) -> str:
    """The uri with its password replaced by ``***`` (``mongodb://user:***@host/``); other parts unchanged."""
    m = _USERINFO.match(uri)
    if not m:
        return uri
    user = m.group(2).split(":", 1)[0]
    return f"{m.group(1)}{user}:***@{uri[m.end() :]}" if ":" in m.group(2) else uri


def _password_of(uri: str | None) -> str | None:
    m = _USERINFO.match(uri or "")
    if not m or ":" not in m.group(2):
        return None
    return m.group(2).split(":", 1)[1] or None


@dataclass(frozen=True)
class MongoDBConfig:
    """Checked databases.mongodb settings. ``uri`` wins over host/port when set.

    native_queries: True (the server evaluates whole queries and aggregations), False (the server gets only what
    every MongoDB-compatible server evaluates alike; Python finishes) or "auto" (True for real MongoDB only).
    """

    uri: str | None
    host: str
    port: int
    db: str
    create_collection_index: bool
    native_queries: bool | str = "auto"

    @classmethod
    def from_settings(cls, settings: Any) -> MongoDBConfig:
        """Read and check databases.mongodb.*; raises StoreError naming the bad key and value."""
        dbs = settings.section("databases") if hasattr(settings, "section") else dict(settings.get("databases", {}))
        sec = {**_DEFAULTS, **{k: v for k, v in (dbs.get("mongodb") or {}).items() if v is not None}}
        uri, host, port, db = sec["uri"], sec["host"], sec["port"], sec["db"]
        if uri is not None and (not isinstance(uri, str) or not re.match(r"mongodb(\+srv)?://", uri, re.I)):
            shown = mask_uri(uri) if isinstance(uri, str) else uri
            raise StoreError(
                f"databases.mongodb.uri={shown!r}: not a MongoDB connection string "
                "(expected mongodb://[user:password@]host[:port][/...] or mongodb+srv://...)"
            )
        if not isinstance(host, str) or not host:
            raise StoreError(f"databases.mongodb.host={host!r}: must be a non-empty host name or address")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise StoreError(f"databases.mongodb.port={port!r}: must be an integer between 1 and 65535")
        if not isinstance(db, str) or not db or len(db.encode()) >= 64 or set(db) & _BAD_DB_CHARS:
            raise StoreError(
                f"databases.mongodb.db={db!r}: not a valid MongoDB database name (1-63 bytes, none of "
                '/\\. "$*<>:|? and no NUL)'
            )
        index = sec["create_collection_index"]
        if not isinstance(index, bool):
            raise StoreError(f"databases.mongodb.create_collection_index={index!r}: must be true or false")
        native = sec["native_queries"]
        if not isinstance(native, bool) and not (isinstance(native, str) and native == "auto"):
            raise StoreError(
                f'databases.mongodb.native_queries={native!r}: must be "auto" (native queries on real MongoDB '
                "only), true or false"
            )
        return cls(uri, host, port, db, index, native)

    def location(self) -> str:
        """The settings that say where the server is, for error messages (password masked)."""
        if self.uri:
            return f"databases.mongodb.uri={mask_uri(self.uri)!r}"
        return f"databases.mongodb.host={self.host!r}, databases.mongodb.port={self.port}"

    def client_args(self) -> tuple[tuple, dict]:
        """Positional and keyword arguments for pymongo.MongoClient."""
        kwargs = {"serverSelectionTimeoutMS": SERVER_SELECTION_TIMEOUT_MS}
        if self.uri:
            return (self.uri,), kwargs
        return (), {"host": self.host, "port": self.port, **kwargs}

    def scrub(self, text: str) -> str:
        """text with any occurrence of the uri's password (raw or percent-decoded) replaced by ``***``."""
        pw = _password_of(self.uri)
        if self.uri:
            text = text.replace(self.uri, mask_uri(self.uri))
        for secret in {pw, unquote(pw)} if pw else ():
            text = text.replace(secret, "***")
        return text
