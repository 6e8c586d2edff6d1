"""Hooks of flowcept-neo4j (entry point ``neo4j``): the spec only; the registry imports the store when it is
opened."""

from __future__ import annotations

from flowcept_core.plugin import Key, SettingsSection, StoreSpec, hookimpl

__all__ = ["flowcept_stores", "SETTINGS"]

# databases.neo4j.*; database null: the server's default database
SETTINGS = SettingsSection("databases.neo4j", {
    "enabled": Key(bool, False),
    "uri": Key(str, "bolt://localhost:7687"),
    "user": Key(str, "neo4j"),
    "password": Key((str, type(None))),
    "database": Key((str, type(None))),
})


@hookimpl
def flowcept_stores() -> list[StoreSpec]:
    """Called when the registry collects stores; returns the ``neo4j`` spec.

    read_preference 100 (the largest): the graph store is written alongside LMDB or MongoDB and answers
    ``Flowcept.db`` queries only when it is the one store enabled; lineage queries it answers whenever enabled.
    """
    return [StoreSpec("neo4j", "flowcept_neo4j.store:Neo4jStore", SETTINGS,
                      "Neo4j graph (Bolt, official driver): PROV nodes Workflow/Task/Agent/Entity with PART_OF, "
                      "USED, WAS_GENERATED_BY, WAS_INFORMED_BY... relationships; lineage by graph paths",
                      requires=("neo4j",), extra="neo4j", read_preference=100)]
