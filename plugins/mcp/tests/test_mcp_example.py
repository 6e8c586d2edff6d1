"""examples/mcp_agent_example.py runs as a user would run it, and prints what the agent's workflow recorded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "mcp_agent_example.py"


def test_the_mcp_agent_example_records_tool_and_model_calls(tmp_path):
    pytest.importorskip("mcp.server.mcpserver", reason="the example's client session needs mcp 2.x (Client)")
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("FLOWCEPT_SETTINGS_PATH", None)
    out = subprocess.run([sys.executable, str(EXAMPLE)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "tools: ['add', 'sum_and_explain']" in lines
    assert "add -> 5" in lines
    assert any(line.startswith("add ") and "status=FINISHED" in line and "used={'x': 2, 'y': 3}" in line
               for line in lines)
    assert any(line.startswith("llm_interaction") and "(child of sum_and_explain)" in line for line in lines)
    assert "'estimated': False" in out.stdout and "sk-example" not in out.stdout
    assert any(line.endswith("saw 3 task messages") for line in lines)
