"""flowcept-neo4j: the ``neo4j`` store. Provenance written as a PROV graph (Workflow, Task, Agent and Entity nodes)
to Neo4j, or to any server speaking Bolt and openCypher, with the official ``neo4j`` driver."""
