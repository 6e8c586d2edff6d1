"""Fixtures for the neo4j plugin's tests: a Bolt server (ArcadeDB with its Bolt plugin, see
flowcept_neo4j.testserver and ../shared/services.md), started once per session on 127.0.0.1:7688 (free ports if
7688 / 2481 are taken) with its data in a temporary folder and stopped by its PID at the end; an empty graph per
test. FLOWCEPT_TEST_NEO4J_URI (+ _USER, _PASSWORD, _DATABASE) points the tests at an existing server instead (e.g.
a real Neo4j). If no server can be started the tests are skipped with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from flowcept_core.registry import reset_registry
from flowcept_core.settings import Settings, reset_settings
from flowcept_core.stores import close_stores


@dataclass
class BoltServer:
    """Where the test server listens, and (for a server these tests started) how to stop and restart it."""

    uri: str
    user: str
    password: str
    database: str | None
    process: object = None  # BoltTestServer when started here

    def section(self, **keys: object) -> dict:
        return {"enabled": True, "uri": self.uri, "user": self.user, "password": self.password,
                "database": self.database, **keys}

    def settings(self, **keys: object) -> Settings:
        """Settings enabling only the neo4j store on this server."""
        return Settings({"databases": {"neo4j": self.section(**keys), "lmdb": {"enabled": False}}})

    def driver(self):  # noqa: ANN201 - neo4j.Driver
        from neo4j import GraphDatabase

        return GraphDatabase.driver(self.uri, auth=(self.user, self.password))

    def cypher(self, query: str, **params: object) -> list[dict]:
        """Run one query on the test database; its records as dicts."""
        with self.driver() as driver, driver.session(database=self.database) as session:
            return session.run(query, **params).data()


@pytest.fixture(scope="session")
def bolt_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BoltServer]:
    """The Bolt server of this test session."""
    pytest.importorskip("neo4j", reason="the neo4j driver is not installed: pip install -e plugins/neo4j_consumer")
    existing = os.environ.get("FLOWCEPT_TEST_NEO4J_URI")
    if existing:
        yield BoltServer(existing, os.environ.get("FLOWCEPT_TEST_NEO4J_USER", "neo4j"),
                         os.environ.get("FLOWCEPT_TEST_NEO4J_PASSWORD", ""),
                         os.environ.get("FLOWCEPT_TEST_NEO4J_DATABASE") or None)
        return
    pytest.importorskip("arcadedb_embedded", reason="the test server needs arcadedb-embedded: "
                                                    "pip install arcadedb-embedded (see ../shared/services.md)")
    from flowcept_neo4j.testserver import DATABASE, USER, BoltTestServer, ServerStartError

    server = BoltTestServer(tmp_path_factory.mktemp("arcadedb"))
    try:
        server.start()
    except ServerStartError as e:
        pytest.skip(f"no Bolt test server: {e}")
    try:
        yield BoltServer(server.uri, USER, server.password, DATABASE, server)
    finally:
        server.stop()


@pytest.fixture
def graph(bolt_server: BoltServer) -> Iterator[BoltServer]:
    """The server with an empty graph (constraints kept); the process state reset around the test."""
    bolt_server.cypher("MATCH (n) DETACH DELETE n")
    reset_settings()
    reset_registry()
    close_stores()
    yield bolt_server
    close_stores()
    reset_settings()
    reset_registry()


@pytest.fixture
def make_store(graph: BoltServer) -> Iterator:
    """make_store(**databases.neo4j keys) -> a Neo4jStore on the empty graph; closed after the test."""
    from flowcept_neo4j.store import Neo4jStore

    made = []

    def make(**keys: object) -> Neo4jStore:
        store = Neo4jStore(graph.settings(**keys))
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()
