"""examples/mlflow_example.py runs as the README shows (a fresh interpreter in an empty directory) and prints the
two runs it logged as finished tasks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "mlflow_example.py"


def test_the_mlflow_example_runs_and_prints_its_runs_as_tasks(tmp_path):
    pytest.importorskip("mlflow", reason="mlflow-skinny is not installed (pip install \"flowcept[mlflow]\")")
    done = subprocess.run([sys.executable, str(EXAMPLE)], cwd=tmp_path, env={"HOME": str(tmp_path),
                          "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2, done.stdout
    for line, lr in zip(lines, ("0.05", "0.2"), strict=True):
        assert line.startswith(f"linear_regression / lr={lr}: FINISHED used={{'lr': '{lr}', 'epochs': '30'}}"), line
        assert re.search(r"loss=\d+\.\d{4} w=\d\.\d\d$", line), line
    assert (tmp_path / "mlflow.db.flowcept-state.json").exists()
