"""Provenance as a graph: a small workflow written to a Neo4j (Bolt) server beside the default LMDB store, then
asked with Cypher and with Flowcept.db.get_lineage.

Run:  pip install -e plugins/neo4j_consumer            (flowcept[neo4j])
      python plugins/neo4j_consumer/examples/neo4j_graph.py

With NEO4J_URI (and NEO4J_USER, NEO4J_PASSWORD, NEO4J_DATABASE) it uses that server; without it, it starts a private
ArcadeDB Bolt server for the run (pip install arcadedb-embedded) and stops it at the end.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack
from pathlib import Path

import yaml

from flowcept import Flowcept, flowcept_task


@flowcept_task
def load(n):
    return [i * 1.5 for i in range(n)]


@flowcept_task
def clean(rows):
    return [r for r in rows if r > 1]


@flowcept_task
def step(rows, k):
    return sum(rows) / (k + 1)


@flowcept_task
def fit(rows):
    return [step(rows, k) for k in range(2)]


def _neo4j_section(stack: ExitStack, workdir: str) -> dict:
    if os.environ.get("NEO4J_URI"):
        return {"enabled": True, "uri": os.environ["NEO4J_URI"], "user": os.environ.get("NEO4J_USER", "neo4j"),
                "password": os.environ.get("NEO4J_PASSWORD"), "database": os.environ.get("NEO4J_DATABASE")}
    from flowcept_neo4j.testserver import BoltTestServer

    return stack.enter_context(BoltTestServer(Path(workdir) / "arcadedb")).settings()


def main() -> None:
    with ExitStack() as stack:
        workdir = stack.enter_context(tempfile.TemporaryDirectory())
        neo4j_section = _neo4j_section(stack, workdir)
        settings = Path(workdir) / "settings.yaml"
        settings.write_text(yaml.safe_dump({"databases": {
            "lmdb": {"enabled": True, "path": str(Path(workdir) / "lmdb")},
            "neo4j": neo4j_section}}))
        os.environ["FLOWCEPT_SETTINGS_PATH"] = str(settings)

        with Flowcept(workflow_name="graph_example") as fc:
            fit(clean(load(5)))

        from neo4j import GraphDatabase

        auth = (neo4j_section["user"], neo4j_section["password"])
        with GraphDatabase.driver(neo4j_section["uri"], auth=auth) as driver, \
                driver.session(database=neo4j_section["database"]) as session:
            flow = session.run(
                "MATCH (c:Task {workflow_id: $wf})-[:USED]->(e:Entity)-[:WAS_GENERATED_BY]->(g:Task) "
                "RETURN g.activity_id AS producer, c.activity_id AS consumer ORDER BY producer, consumer",
                wf=fc.current_workflow_id).data()
            nested = session.run("MATCH (s:Task)-[:WAS_STARTED_BY]->(p:Task {workflow_id: $wf}) "
                                 "RETURN p.activity_id AS parent, count(s) AS calls", wf=fc.current_workflow_id).data()
        for row in flow:
            print(f"data flow: {row['producer']} -> {row['consumer']}")
        print("nested calls:", nested)

        fit_task = Flowcept.db.task_query({"workflow_id": fc.current_workflow_id, "activity_id": "fit"})[0]
        lineage = Flowcept.db.get_lineage(fit_task["task_id"], direction="upstream")  # answered by the graph
        print("upstream of fit:", [(t["document"]["activity_id"], t["depth"]) for t in lineage["tasks"]])


if __name__ == "__main__":
    main()
