"""What the watcher remembers between runs (its state file) and how it follows the database file: a restart sends
only what changed meanwhile, a database replaced at the same path or created after the start is read in full, and
every MLflow commit is noticed through PRAGMA data_version."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3

from mlflow_test_helpers import stored_task, wait_for

from flowcept import Flowcept


def _tasks(fc: Flowcept) -> list[dict]:
    return [m for m in fc.get_buffer() if m.get("type") == "task"]


def test_a_restart_sends_only_what_changed_while_stopped_and_keeps_each_tasks_workflow(tracking_db, use_settings):
    import mlflow

    use_settings()
    with Flowcept("mlflow") as first:
        with mlflow.start_run() as untouched:
            mlflow.log_metric("loss", 0.3)
        with mlflow.start_run() as updated:
            mlflow.log_metric("loss", 0.5)
    assert {t["task_id"] for t in _tasks(first)} == {untouched.info.run_id, updated.info.run_id}

    client = mlflow.MlflowClient()  # logged while flowcept is not running
    client.log_metric(updated.info.run_id, "loss", 0.4, step=1)
    client.set_terminated(updated.info.run_id, "KILLED")  # an ended run changed in place
    with mlflow.start_run() as new:
        mlflow.log_param("p", "x")

    with Flowcept("mlflow") as second:
        pass
    sent = {t["task_id"]: t for t in _tasks(second)}
    assert set(sent) == {updated.info.run_id, new.info.run_id}, "a run unchanged since the last stop was sent again"
    assert sent[updated.info.run_id]["generated"] == {"loss": 0.4} and "used" not in sent[updated.info.run_id]
    doc = wait_for(lambda: stored_task(updated.info.run_id, generated={"loss": 0.4}, status="ERROR"),
                   what="the updated run")
    assert doc["custom_metadata"]["mlflow_status"] == "KILLED"
    assert doc["workflow_id"] == first.current_workflow_id  # updated in place, not moved to the second workflow
    doc = wait_for(lambda: stored_task(new.info.run_id, used={"p": "x"}), what="the new run")
    assert doc["workflow_id"] == second.current_workflow_id
    assert stored_task(untouched.info.run_id, workflow_id=first.current_workflow_id, generated={"loss": 0.3})

    with Flowcept("mlflow") as third:
        pass
    assert _tasks(third) == []


def test_the_state_file_lies_next_to_the_database_and_records_each_run(tracking_db, use_settings):
    import mlflow

    use_settings()
    with Flowcept("mlflow") as fc:
        with mlflow.start_run() as run:
            pass
    state = json.loads((tracking_db.parent / "mlflow.db.flowcept-state.json").read_text())
    assert state["tracking_db"] == str(tracking_db) and state["inode"] == os.stat(tracking_db).st_ino
    assert state["marks"]["runs"] == 1
    assert state["runs"][run.info.run_id][:3] == [fc.current_workflow_id, fc.campaign_id, "FINISHED"]


def test_capture_existing_runs_false_skips_runs_logged_before_the_first_start(tracking_db, use_settings):
    import mlflow

    with mlflow.start_run() as before:
        pass
    use_settings(capture_existing_runs=False)
    with Flowcept("mlflow") as fc:
        with mlflow.start_run() as during:
            pass
    assert {t["task_id"] for t in _tasks(fc)} == {during.info.run_id}
    assert before.info.run_id != during.info.run_id


def test_a_database_created_after_the_start_is_read(empty_tracking_db, tmp_path, use_settings):
    import mlflow

    use_settings(file_path=str(tmp_path / "later.db"))
    with Flowcept("mlflow"):
        shutil.copyfile(empty_tracking_db, tmp_path / "later.db")
        mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'later.db'}")
        with mlflow.start_run() as run:
            mlflow.log_metric("loss", 0.25)
        wait_for(lambda: stored_task(run.info.run_id, status="FINISHED", generated={"loss": 0.25}), what="the run")


def test_a_database_replaced_at_the_same_path_is_read_from_its_start(tracking_db, empty_tracking_db, tmp_path,
                                                                      use_settings):
    import mlflow

    use_settings()
    with Flowcept("mlflow"):
        with mlflow.start_run() as old:
            mlflow.log_metric("loss", 1.0)
        wait_for(lambda: stored_task(old.info.run_id, status="FINISHED"), what="the first database's run")
        other = tmp_path / "other.db"  # a new database, then renamed over the watched path (a new file there)
        shutil.copyfile(empty_tracking_db, other)
        mlflow.set_tracking_uri(f"sqlite:///{other}")
        with mlflow.start_run() as new:
            mlflow.log_param("fresh", "yes")
        os.replace(other, tracking_db)
        doc = wait_for(lambda: stored_task(new.info.run_id, status="FINISHED"), what="the replacing database's run")
    assert doc["used"] == {"fresh": "yes"}


def test_every_mlflow_commit_changes_the_data_version_the_watcher_reads(tracking_db):
    import mlflow

    conn = sqlite3.connect(f"file:{tracking_db}?mode=ro", uri=True, isolation_level=None)
    seen = [conn.execute("PRAGMA data_version").fetchone()[0]]

    def changed() -> bool:
        seen.append(conn.execute("PRAGMA data_version").fetchone()[0])
        return seen[-1] != seen[-2]

    run = mlflow.start_run()
    assert changed()
    for call in (lambda: mlflow.log_param("a", 1), lambda: mlflow.log_metric("m", 0.0),
                 lambda: mlflow.log_metric("m", 0.0, step=1), lambda: mlflow.set_tag("t", "x"),
                 lambda: mlflow.set_tag("t", "y"), lambda: mlflow.log_metrics({"a": 1.0, "b": 2.0}), mlflow.end_run):
        call()
        assert changed(), f"a commit went unnoticed after {len(seen) - 1} calls"
    assert run.info.run_id
    conn.close()
