"""End to end through the public API: real MLflow logging to a SQLite tracking database while Flowcept("mlflow")
runs; the stored task documents are read back with Flowcept.db and checked field by field."""

from __future__ import annotations

from typing import Any

import pytest
from mlflow_test_helpers import stored_task, wait_for

from flowcept import Flowcept


def _run_info(run_id: str) -> Any:
    import mlflow

    return mlflow.MlflowClient().get_run(run_id).info


def test_upstream_scenario_runs_are_tasks_of_the_workflow_with_their_values(tracking_db, use_settings):
    import mlflow

    use_settings()
    with Flowcept("mlflow", workflow_name="mlflow-scenario") as fc:
        experiment_id = mlflow.create_experiment("LinearRegression")
        with mlflow.start_run(experiment_id=experiment_id, run_name="linreg") as run:
            mlflow.log_params({"number_epochs": 10})
            mlflow.log_params({"batch_size": 64})
            mlflow.log_metric("loss", 0.04)
        run_id = run.info.run_id
    info = _run_info(run_id)
    doc = wait_for(lambda: stored_task(run_id, status="FINISHED"), what="the run's task")
    assert doc["workflow_id"] == fc.current_workflow_id
    assert doc["campaign_id"] == fc.campaign_id
    assert doc["activity_id"] == "LinearRegression"
    assert doc["subtype"] == "mlflow_run" and doc["adapter_id"] == "mlflow"
    assert doc["used"] == {"number_epochs": "10", "batch_size": "64"}  # params as MLflow stores them
    assert doc["generated"] == {"loss": 0.04}
    assert doc["started_at"] == info.start_time / 1000 and doc["ended_at"] == info.end_time / 1000
    assert doc["user"] == info.user_id
    meta = doc["custom_metadata"]
    assert meta["experiment_id"] == experiment_id and meta["experiment_name"] == "LinearRegression"
    assert meta["run_name"] == "linreg" and meta["mlflow_status"] == "FINISHED"
    assert meta["lifecycle_stage"] == "active" and meta["artifact_uri"] == info.artifact_uri
    assert meta["tags"]["mlflow.runName"] == "linreg"
    tasks = Flowcept.db.query(filter={"workflow_id": fc.current_workflow_id})
    assert [t["task_id"] for t in tasks] == [run_id]
    workflow = Flowcept.db.query(filter={"workflow_id": fc.current_workflow_id}, collection="workflows")[0]
    assert workflow["custom_metadata"]["mlflow"] == {"tracking_db": str(tracking_db)}


def test_runs_without_params_or_metrics_and_zero_or_empty_values_are_kept(tracking_db, use_settings):
    import mlflow

    use_settings()
    with Flowcept(interceptors=["mlflow"]):
        with mlflow.start_run() as bare:
            pass
        with mlflow.start_run() as zeros:
            mlflow.log_param("note", "")
            mlflow.log_metric("accuracy", 0.0)
            mlflow.set_tag("team", "")
    doc = wait_for(lambda: stored_task(bare.info.run_id, status="FINISHED"), what="the bare run")
    assert "used" not in doc and "generated" not in doc
    assert doc["activity_id"] == "Default"  # MLflow's default experiment
    doc = wait_for(lambda: stored_task(zeros.info.run_id, status="FINISHED"), what="the run with zeros")
    assert doc["used"] == {"note": ""} and doc["generated"] == {"accuracy": 0.0}
    assert doc["custom_metadata"]["tags"]["team"] == ""


def test_a_live_run_is_updated_with_its_latest_metric_and_final_status(tracking_db, use_settings):
    import mlflow

    use_settings()
    with Flowcept("mlflow"):
        run = mlflow.start_run()
        run_id = run.info.run_id
        mlflow.log_param("lr", 0.1)
        mlflow.log_metric("loss", 0.9, step=0)
        doc = wait_for(lambda: stored_task(run_id, status="RUNNING", generated={"loss": 0.9}), what="RUNNING")
        assert "ended_at" not in doc and doc["used"] == {"lr": "0.1"}
        mlflow.log_metric("loss", 0.1, step=1)  # the latest value is kept, not the largest
        mlflow.log_metric("loss", 0.7, step=2)
        mlflow.log_metric("acc", 0.5, step=2)
        wait_for(lambda: stored_task(run_id, generated={"loss": 0.7, "acc": 0.5}), what="the newer metrics")
        mlflow.end_run()
        doc = wait_for(lambda: stored_task(run_id, status="FINISHED"), what="FINISHED")
    assert doc["used"] == {"lr": "0.1"} and doc["ended_at"] == _run_info(run_id).end_time / 1000


@pytest.mark.parametrize("mlflow_status,flowcept_status", [("FAILED", "ERROR"), ("KILLED", "ERROR"),
                                                           ("FINISHED", "FINISHED")])
def test_mlflow_end_statuses_are_mapped(tracking_db, use_settings, mlflow_status, flowcept_status):
    import mlflow

    use_settings()
    with Flowcept("mlflow"):
        with mlflow.start_run() as run:
            mlflow.log_metric("loss", 1.0)
        mlflow.MlflowClient().set_terminated(run.info.run_id, mlflow_status)
    doc = wait_for(lambda: stored_task(run.info.run_id, status=flowcept_status), what=flowcept_status)
    assert doc["custom_metadata"]["mlflow_status"] == mlflow_status


def test_an_error_inside_a_run_records_it_as_error(tracking_db, use_settings):
    import mlflow

    use_settings()
    with Flowcept("mlflow"):
        with pytest.raises(ZeroDivisionError):
            with mlflow.start_run() as run:
                mlflow.log_metric("step_loss", 0.3)
                raise ZeroDivisionError("diverged")
    doc = wait_for(lambda: stored_task(run.info.run_id, status="ERROR"), what="ERROR")
    assert doc["custom_metadata"]["mlflow_status"] == "FAILED" and doc["generated"] == {"step_loss": 0.3}


def test_log_params_and_log_metrics_choose_what_is_recorded(tracking_db, use_settings):
    import mlflow

    use_settings(log_params=["lr"], log_metrics=[])
    with Flowcept("mlflow"):
        with mlflow.start_run() as run:
            mlflow.log_params({"lr": 0.1, "seed": 7})
            mlflow.log_metrics({"loss": 0.2, "acc": 0.8})
    doc = wait_for(lambda: stored_task(run.info.run_id, status="FINISHED"), what="the run")
    assert doc["used"] == {"lr": "0.1"} and "generated" not in doc


def test_metric_history_records_every_step_in_order(tracking_db, use_settings):
    import mlflow

    use_settings(metric_history=True, log_metrics=["loss"])
    with Flowcept("mlflow"):
        with mlflow.start_run() as run:
            for step, value in enumerate([0.5, 0.0, float("nan")]):
                mlflow.log_metric("loss", value, step=step, timestamp=1_000 * (step + 1))
            mlflow.log_metric("ignored", 1.0)
    doc = wait_for(lambda: stored_task(run.info.run_id, status="FINISHED"), what="the run")
    history = doc["generated"]["loss"]
    assert [h["step"] for h in history] == [0, 1, 2] and [h["timestamp"] for h in history] == [1.0, 2.0, 3.0]
    # NaN is stored the way flowcept stores every NaN (the string "NaN": not every store keeps it as a number)
    assert [h["value"] for h in history] == [0.5, 0.0, "NaN"]
    assert set(doc["generated"]) == {"loss"}


def test_an_adapters_key_with_kind_mlflow_and_upstream_keys_are_accepted(tracking_db, use_settings):
    import mlflow

    from flowcept_core.plugin import get_settings
    from flowcept_core.plugin_settings import check_plugin_settings

    use_settings(adapters={"my_mlflow": {"kind": "mlflow", "file_path": f"sqlite:///{tracking_db}",
                                         "log_params": ["*"], "log_metrics": ["*"], "redis_host": "localhost",
                                         "redis_port": 6379, "watch_interval_sec": 0.05}})
    assert check_plugin_settings(get_settings(), [("my_mlflow", "mlflow")]) == []  # no unknown-key warnings
    with Flowcept(interceptors=["my_mlflow"]):
        with mlflow.start_run() as run:
            mlflow.log_metric("loss", 0.5)
    wait_for(lambda: stored_task(run.info.run_id, generated={"loss": 0.5}), what="the run")


def test_a_bad_setting_fails_at_start_naming_the_key(tracking_db, use_settings):
    from flowcept_core.plugin import SettingsError

    use_settings(log_metrics=[1, 2])
    with pytest.raises(SettingsError, match=r"adapters\.mlflow\.log_metrics"):
        Flowcept("mlflow").start()
    use_settings(file_path="postgresql://db/mlflow")
    with pytest.raises(SettingsError, match="not a SQLite tracking database"):
        Flowcept("mlflow").start()


def test_an_interceptor_object_as_upstream_passes_it_is_started_and_stopped(tracking_db, use_settings):
    import mlflow
    from flowcept_mlflow.interceptor import MLFlowInterceptor

    use_settings()
    interceptor = MLFlowInterceptor("mlflow")  # upstream's form: the adapters key
    with Flowcept(interceptor) as fc:
        assert interceptor.started
        with mlflow.start_run() as run:
            mlflow.log_metric("loss", 0.04)
    assert not interceptor.started
    doc = wait_for(lambda: stored_task(run.info.run_id, status="FINISHED"), what="the run")
    assert doc["workflow_id"] == fc.current_workflow_id and doc["generated"] == {"loss": 0.04}


def test_two_mlflow_sections_need_the_key_named_on_the_interceptor(tracking_db, tmp_path, use_settings):
    import mlflow
    from flowcept_mlflow.interceptor import MlflowInterceptor

    from flowcept_core.plugin import SettingsError

    use_settings(adapters={"other": {"kind": "mlflow", "file_path": str(tmp_path / "other.db")},
                           "mine": {"kind": "mlflow", "file_path": str(tracking_db), "watch_interval_sec": 0.05}})
    with pytest.raises(SettingsError, match=r"adapters\.(other|mine), adapters\.(other|mine) all have kind: mlflow"):
        Flowcept(interceptors=["mine"]).start()
    with Flowcept(interceptors=[MlflowInterceptor(plugin_key="mine")]):
        with mlflow.start_run() as run:
            pass
    wait_for(lambda: stored_task(run.info.run_id, status="FINISHED"), what="the run in the chosen database")


def test_an_ended_run_renamed_then_deleted_is_updated(tracking_db, use_settings):
    import mlflow

    use_settings()
    client = mlflow.MlflowClient()
    with Flowcept("mlflow"):
        with mlflow.start_run(run_name="draft") as run:
            pass
        run_id = run.info.run_id
        wait_for(lambda: stored_task(run_id, status="FINISHED"), what="the ended run")
        client.update_run(run_id, name="final")
        wait_for(lambda: (stored_task(run_id) or {}).get("custom_metadata", {}).get("run_name") == "final",
                 what="the new name")
        client.delete_run(run_id)
        doc = wait_for(lambda: stored_task(run_id, status="FINISHED") if (stored_task(run_id) or {}).get(
            "custom_metadata", {}).get("lifecycle_stage") == "deleted" else None, what="the deletion")
    assert doc["custom_metadata"]["tags"]["mlflow.runName"] == "final"


def test_runs_logged_from_two_threads_at_once_are_all_recorded_with_their_latest_values(tracking_db, use_settings):
    import threading

    import mlflow
    from mlflow.entities import Metric, Param

    use_settings()
    client = mlflow.MlflowClient()
    experiment_id = client.create_experiment("concurrent")
    expected: dict[str, dict] = {}
    lock = threading.Lock()

    def log_runs(worker: int) -> None:
        for i in range(15):
            run_id = client.create_run(experiment_id).info.run_id
            metrics = [Metric(key, float(worker * 1000 + i * 10 + step), 1_000 + step, step)
                       for step in range(4) for key in ("loss", "acc")]
            client.log_batch(run_id, metrics=metrics, params=[Param("worker", str(worker)), Param("i", str(i))])
            client.log_metric(run_id, "zero", 0.0)
            client.set_terminated(run_id)
            with lock:
                latest = float(worker * 1000 + i * 10 + 3)
                expected[run_id] = {"used": {"worker": str(worker), "i": str(i)},
                                    "generated": {"loss": latest, "acc": latest, "zero": 0.0}}

    with Flowcept("mlflow") as fc:
        threads = [threading.Thread(target=log_runs, args=(w,)) for w in (1, 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(expected) == 30
    for run_id, want in expected.items():
        wait_for(lambda run_id=run_id, want=want: stored_task(run_id, status="FINISHED", **want), what=run_id)
    tasks = Flowcept.db.query(filter={"workflow_id": fc.current_workflow_id})
    assert sorted(t["task_id"] for t in tasks) == sorted(expected)
