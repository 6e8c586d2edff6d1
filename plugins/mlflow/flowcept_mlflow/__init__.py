"""flowcept-mlflow: observes an MLflow SQLite tracking database and records each run as a task.

Chosen with ``Flowcept("mlflow")`` or ``Flowcept(interceptors=["mlflow"])``; configured under ``adapters.mlflow`` in
settings.yaml (``file_path``: the tracking database). Importing this package imports neither mlflow nor sqlite3.
"""
