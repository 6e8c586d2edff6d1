"""The neo4j store in a run: written by the DocumentInserter beside LMDB (which still answers queries), clear
errors at start for a server that is not there or refuses the password, and a server restart mid-run that loses
nothing."""

from __future__ import annotations

import os
import socket
import time

import pytest
import yaml

from flowcept_core.plugin import StoreError, StoreUnavailableError
from flowcept_core.registry import reset_registry
from flowcept_core.settings import reset_settings
from flowcept_core.stores import close_stores


def _use_settings(tmp_path, monkeypatch, databases: dict, **extra: dict) -> None:
    tree = {
        "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
        "telemetry_capture": {},
        "log": {"log_stream_level": "error", "log_file_level": "disable"},
        "mq": {"type": "memory", "channel": f"neo4j-{os.getpid()}-{time.monotonic_ns()}",
               "insertion_buffer_time_secs": 0.1, "stop_timeout_secs": 60},
        "db_buffer": {"insertion_buffer_time_secs": 0.1, "buffer_size": 20},
        "databases": databases, **extra}
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(tree))
    monkeypatch.setenv("FLOWCEPT_SETTINGS_PATH", str(path))
    monkeypatch.chdir(tmp_path)
    reset_settings()
    reset_registry()
    close_stores()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def test_unreachable_server_is_a_clear_error_at_start_naming_the_uri(graph):
    from flowcept_neo4j.store import Neo4jStore

    uri = f"bolt://127.0.0.1:{_closed_port()}"
    with pytest.raises(StoreUnavailableError) as info:
        Neo4jStore(graph.settings(uri=uri))
    assert uri in str(info.value) and "no Bolt server answered" in str(info.value)


def test_wrong_password_is_a_clear_error_at_start_naming_the_uri_not_the_password(graph):
    from flowcept_neo4j.store import Neo4jStore

    with pytest.raises(StoreError) as info:
        Neo4jStore(graph.settings(password="not-the-password-42"))
    text = str(info.value)
    assert not isinstance(info.value, StoreUnavailableError)
    assert graph.uri in text and "wrong user or password" in text and "not-the-password-42" not in text


@pytest.mark.parametrize("section, named", [
    ({"uri": "http://localhost:7474"}, "databases.neo4j.uri='http://localhost:7474'"),
    ({"uri": "bolt://neo4j:secret@localhost"}, "databases.neo4j.uri="),
    ({"database": ""}, "databases.neo4j.database=''"),
])
def test_bad_settings_are_errors_naming_the_key(graph, section, named):
    from flowcept_neo4j.store import Neo4jStore

    with pytest.raises(StoreError) as info:
        Neo4jStore(graph.settings(**section))
    assert named in str(info.value) and "secret" not in str(info.value)


def test_flowcept_run_writes_the_graph_beside_lmdb_which_answers_queries(graph, tmp_path, monkeypatch):
    pytest.importorskip("flowcept_lmdb")
    from flowcept import Flowcept, flowcept_task
    from flowcept_core.stores import read_store_name

    @flowcept_task
    def double(x):
        return 2 * x

    _use_settings(tmp_path, monkeypatch, {"neo4j": graph.section(), "lmdb": {"enabled": True,
                                                                             "path": str(tmp_path / "lmdb")}})
    from flowcept_core.settings import get_settings

    assert read_store_name(get_settings()) == "lmdb"
    try:
        with Flowcept(workflow_name="graph-run") as fc:
            for i in range(30):
                double(i)
        wf = fc.current_workflow_id
        assert len(Flowcept.db.task_query({"workflow_id": wf})) == 30
        rows = graph.cypher("MATCH (t:Task)-[:PART_OF]->(w:Workflow {workflow_id: $wf}) "
                            "RETURN count(t) AS n, w.name AS name", wf=wf)
        assert rows == [{"n": 30, "name": "graph-run"}]
        assert graph.cypher("MATCH (t:Task {status: 'FINISHED'}) WHERE t.started_at IS NOT NULL "
                            "AND t.ended_at IS NOT NULL RETURN count(t) AS n") == [{"n": 30}]
        # data flow: double(1) generated 2, which double(2) used, ... ; lineage from the graph equals LMDB's
        from flowcept_core.lineage import get_lineage
        from flowcept_core.stores import open_store

        settings = get_settings()
        graph_store, lmdb_store = open_store(settings, "neo4j"), open_store(settings, "lmdb")
        (t4,) = Flowcept.db.task_query({"workflow_id": wf, "used.x": 4})
        for direction in ("upstream", "downstream", "both"):
            answer = Flowcept.db.get_lineage(t4["task_id"], direction)
            assert answer == graph_store.get_lineage(t4["task_id"], direction)
            assert answer == get_lineage(lmdb_store, t4["task_id"], direction)
        upstream = Flowcept.db.get_lineage(t4["task_id"], "upstream")["tasks"]
        assert [t["document"]["used"]["x"] for t in upstream] == [4, 2, 1]
    finally:
        close_stores()


def test_server_restart_mid_run_loses_nothing(graph, tmp_path, monkeypatch):
    if graph.process is None:
        pytest.skip("the Bolt server was not started by these tests (FLOWCEPT_TEST_NEO4J_URI), so it cannot be "
                    "restarted")
    from flowcept import Flowcept, flowcept_task

    @flowcept_task
    def step(i):
        return {"out": i}

    _use_settings(tmp_path, monkeypatch, {"neo4j": graph.section(), "lmdb": {"enabled": False}})
    server = graph.process
    try:
        with Flowcept(workflow_name="restart") as fc:
            for i in range(100):
                step(i)
            time.sleep(0.5)
            server.stop()  # the server goes away mid-run
            for i in range(100, 200):
                step(i)
            inserter = fc._inserter
            deadline = time.monotonic() + 60
            while inserter.failed_writes < 1 and time.monotonic() < deadline:  # it fails and keeps its batch
                time.sleep(0.1)
            assert inserter.failed_writes >= 1
            server.start()  # back, with its data
        wf = fc.current_workflow_id
        rows = graph.cypher("MATCH (t:Task {workflow_id: $wf}) RETURN t.task_id AS id, t.status AS status",
                            wf=wf)
        assert len(rows) == 200 and {r["status"] for r in rows} == {"FINISHED"}
        # the graph store alone is enabled: it answers queries too
        assert sorted(t["used"]["i"] for t in Flowcept.db.task_query({"workflow_id": wf})) == list(range(200))
        outs = graph.cypher("MATCH (e:Entity)-[:WAS_GENERATED_BY {name: 'out'}]->(t:Task {workflow_id: $wf}) "
                            "RETURN e.value AS v", wf=wf)
        assert sorted(r["v"] for r in outs) == list(range(200))
    finally:
        close_stores()
        server.start()


def test_a_database_the_server_does_not_have_is_an_error_naming_it(graph):
    from flowcept_neo4j.store import Neo4jStore

    with pytest.raises(StoreError) as info:
        Neo4jStore(graph.settings(database="no_such_db_42"))
    assert "no_such_db_42" in str(info.value) and graph.uri in str(info.value)
