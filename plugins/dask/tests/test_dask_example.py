"""examples/dask_example.py runs as written and prints what it stored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "dask_example.py"


def test_the_dask_example_runs_and_reads_back_its_tasks(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWCEPT_")}
    env["HOME"] = str(tmp_path)  # no ~/.flowcept/settings.yaml: the built-in defaults
    result = subprocess.run([sys.executable, str(EXAMPLE)], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "result: 3.0" in out
    assert out.count("square   FINISHED") == 4 and "total    FINISHED" in out
    assert "5 Dask tasks, 4 decorated calls inside them" in out
    assert "adapter dask, 2 workers, 2 threads" in out
