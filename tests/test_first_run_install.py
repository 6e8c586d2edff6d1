"""The first README command installs the complete embedded default (the core and its default store) in one step:
run literally in a fresh copy of this checkout, and as plain ``pip install flowcept`` from a wheelhouse built by
scripts/build-wheels. Each fresh environment then captures a decorated task and finds it through Flowcept.db, and
the store still comes through the plugin registry (``flowcept plugins`` names flowcept-lmdb).

About half a minute each (wheels, venvs, installs). Skipped, saying why, when the libraries cannot be fetched.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests._plugin_build import REPO

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the venv layout below is POSIX")

TASK = """
from flowcept import Flowcept, flowcept_task

@flowcept_task(output_names="y")
def mult_two(x):
    return 2 * x

with Flowcept(workflow_name="first-run") as fc:
    mult_two(21)
tasks = Flowcept.db.task_query({"workflow_id": fc.current_workflow_id})
print([(t["activity_id"], t["used"], t["generated"], t["status"]) for t in tasks])
"""
EXPECTED = "[('mult_two', {'x': 21}, {'y': 42}, 'FINISHED')]"
UNFETCHABLE = ("Could not find a version", "No matching distribution", "Failed to establish", "Network is unreachable")


def _run(
    cmd: list[str] | str, cwd: Path, home: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "FLOWCEPT_", "VIRTUAL_ENV"))}
    env["HOME"] = str(home or cwd)  # no ~/.flowcept/settings.yaml: the built-in defaults
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


def _skip_if_unfetchable(done: subprocess.CompletedProcess, what: str) -> None:
    if done.returncode != 0 and any(s in done.stderr for s in UNFETCHABLE):
        pytest.skip(f"{what}: the libraries cannot be fetched: {done.stderr[-500:]}")


def _check_default_works(python: Path, cwd: Path) -> None:
    out = _run([str(python), "-c", TASK], cwd)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == EXPECTED, out.stdout + out.stderr
    assert "not installed" not in out.stderr, out.stderr
    plugins = _run([str(python.parent / "flowcept"), "plugins"], cwd)
    rows = {line.split()[0]: line for line in plugins.stdout.splitlines() if line.startswith("  ")}
    assert "lmdb" in rows and "flowcept-lmdb" in rows["lmdb"], plugins.stdout + plugins.stderr


def _fresh_copy(dest: Path) -> Path:
    """The checkout's source files: in a git checkout the files git does not ignore (tracked or new), else the tree
    without what builds, runs and tests leave behind."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO, capture_output=True
    )
    if files.returncode == 0 and files.stdout:
        dest.mkdir()
        tar = subprocess.run(
            ["tar", "-C", str(REPO), "--ignore-failed-read", "--null", "-T", "-", "-cf", "-"],
            input=files.stdout,
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-C", str(dest), "-xf", "-"], input=tar, check=True)
    else:
        shutil.copytree(
            REPO,
            dest,
            ignore=shutil.ignore_patterns(
                ".git",
                ".venv",
                "build",
                "dist",
                "*.egg-info",
                "__pycache__",
                ".*_cache",
                "flowcept_lmdb",
                "flowcept_buffer*.jsonl",
            ),
        )
        shutil.copytree(
            REPO / "plugins" / "lmdb" / "flowcept_lmdb",
            dest / "plugins" / "lmdb" / "flowcept_lmdb",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    return dest


def first_readme_command() -> str:
    """The first ```bash block of README.md."""
    match = re.search(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    assert match, "README.md has no bash block"
    return match.group(1).strip()


def test_the_first_readme_command_installs_and_runs_the_default_from_a_source_checkout(tmp_path):
    command = first_readme_command()
    assert "pip install" in command and "examples/quickstart.py" in command, command
    checkout = _fresh_copy(tmp_path / "checkout")
    done = _run(["bash", "-euo", "pipefail", "-c", command], checkout)
    _skip_if_unfetchable(done, "the README's first command")
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    assert "mult_two: used {'x': 21} generated {'y': 42}" in done.stdout, done.stdout
    assert "stored tasks with x >= 1:" in done.stdout and "no database" not in done.stdout, done.stdout
    _check_default_works(checkout / ".venv" / "bin" / "python", checkout)


def test_plain_pip_install_flowcept_from_a_wheelhouse_gives_the_default_store(tmp_path):
    wheelhouse = tmp_path / "wheelhouse"
    built = _run(["bash", str(REPO / "scripts" / "build-wheels"), "--deps", str(wheelhouse)], REPO, home=tmp_path)
    _skip_if_unfetchable(built, "scripts/build-wheels --deps")
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-3000:]
    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    assert made.returncode == 0, made.stderr
    installed = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "-q",
            "--disable-pip-version-check",
            "--no-index",
            "--find-links",
            str(wheelhouse),
            "flowcept",
        ],
        tmp_path,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    _check_default_works(venv / "bin" / "python", tmp_path)
