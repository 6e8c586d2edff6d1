"""The databases.neo4j.* settings as one checked object; error messages name the uri, never the password."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flowcept_core.plugin import StoreError

__all__ = ["Neo4jConfig", "CONNECTION_TIMEOUT_S", "TRANSACTION_RETRY_S"]

CONNECTION_TIMEOUT_S = 5.0  # to open a connection; an unreachable server fails the store's start within this
TRANSACTION_RETRY_S = 5.0  # the driver's own retries of a transaction; longer outages: the DocumentInserter's backoff
_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")
_URI = re.compile(r"^([a-z0-9+]+)://([^/?#]+)", re.IGNORECASE)
_DEFAULTS = {"uri": "bolt://localhost:7687", "user": "neo4j", "password": None, "database": None}


@dataclass(frozen=True)
class Neo4jConfig:
    """Checked databases.neo4j settings. ``database`` None is the server's default database."""

    uri: str
    user: str
    password: str | None = field(repr=False)
    database: str | None

    @classmethod
    def from_settings(cls, settings: Any) -> Neo4jConfig:
        """Read and check databases.neo4j.*; raises StoreError naming the bad key and value."""
        dbs = settings.section("databases") if hasattr(settings, "section") else dict(settings.get("databases", {}))
        sec = {**_DEFAULTS, **{k: v for k, v in (dbs.get("neo4j") or {}).items() if v is not None}}
        uri, user, password, database = sec["uri"], sec["user"], sec["password"], sec["database"]
        m = _URI.match(uri) if isinstance(uri, str) else None
        if m is None or m.group(1).lower() not in _SCHEMES or "@" in m.group(2):
            shown = uri if not isinstance(uri, str) or "@" not in uri else uri.split("://", 1)[0] + "://***@..."
            raise StoreError(f"databases.neo4j.uri={shown!r}: not a Bolt address; expected "
                             f"{' or '.join(s + '://host[:port]' for s in _SCHEMES[::3])} (one of the schemes "
                             f"{', '.join(_SCHEMES)}), with user and password in databases.neo4j.user/password")
        if not isinstance(user, str) or not user:
            raise StoreError(f"databases.neo4j.user={user!r}: must be a non-empty user name")
        if password is not None and not isinstance(password, str):
            raise StoreError(f"databases.neo4j.password has type {type(password).__name__}; expected a string")
        if database is not None and (not isinstance(database, str) or not database):
            raise StoreError(f"databases.neo4j.database={database!r}: must be a database name, or null for the "
                             "server's default database")
        return cls(uri, user, password, database)

    def location(self) -> str:
        """Where the server is, for error messages (no password)."""
        db = f", databases.neo4j.database={self.database!r}" if self.database else ""
        return f"databases.neo4j.uri={self.uri!r}{db}"

    def scrub(self, text: str) -> str:
        """text with the password replaced by ``***``."""
        return text.replace(self.password, "***") if self.password else text
