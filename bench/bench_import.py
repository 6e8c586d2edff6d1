"""Import cost of the public API and of ``flowcept plugins``, in fresh interpreters.

    python bench/bench_import.py [--runs 11] [--python PY]

Prints, for each probe, the median wall time of ``--runs`` fresh interpreter runs minus the median of a bare
``python -c pass`` measured alternately with it, and the modules it imports beyond the bare interpreter.
Targets: ``from flowcept import Flowcept, flowcept_task`` <= 20 ms; ``flowcept plugins`` <= 150 ms.
Bytecode is written and read as a user's install does (PYTHONDONTWRITEBYTECODE is removed from the environment).
The probes run in an empty directory; to measure a source checkout without installing it, give a plain venv's
interpreter and PYTHONPATH=<checkout> (an editable install's import hook adds its own imports to the bare interpreter).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROBES = {
    "from flowcept import Flowcept, flowcept_task": "from flowcept import Flowcept, flowcept_task",
    "import flowcept": "import flowcept",
    "flowcept plugins": "import sys; sys.argv = ['flowcept', 'plugins']\nfrom flowcept_core.cli import main\n"
    "try:\n    main()\nexcept SystemExit:\n    pass",
}
TARGETS_MS = {"from flowcept import Flowcept, flowcept_task": 20.0, "flowcept plugins": 150.0}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


_CWD = tempfile.mkdtemp(prefix="bench-import-")  # not the checkout: `python -c` would import the package there


def _wall(python: str, code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([python, "-c", code], env=env, check=True, stdout=subprocess.DEVNULL, cwd=_CWD)
    return time.perf_counter() - start


def _modules(python: str, code: str, env: dict[str, str]) -> list[str]:
    report = "sys.stderr.write('\\n'.join(sorted(set(sys.modules) - _before)))"  # stdout is the probe's own
    probe = f"import sys\n_before = set(sys.modules)\n{code}\n{report}"
    out = subprocess.run([python, "-c", probe], env=env, check=True, capture_output=True, text=True, cwd=_CWD).stderr
    return [line for line in out.splitlines() if line and not line.startswith(("flowcept", "Flowcept"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=11, help="fresh interpreters per probe (default 11)")
    parser.add_argument("--python", default=str(Path(sys.executable)), help="interpreter to measure")
    parser.add_argument("--probes", default=";".join(PROBES), help="';'-separated list of: " + "; ".join(PROBES))
    args = parser.parse_args()
    env = _env()
    for name in args.probes.split(";"):
        code = PROBES[name]
        _wall(args.python, code, env)  # write bytecode and warm the file cache
        bare, full = [], []
        for _ in range(args.runs):
            bare.append(_wall(args.python, "pass", env))
            full.append(_wall(args.python, code, env))
        ms = (statistics.median(full) - statistics.median(bare)) * 1000
        target = TARGETS_MS.get(name)
        verdict = "" if target is None else f"  (target <= {target:.0f} ms: {'ok' if ms <= target else 'OVER'})"
        print(f"{name}: {ms:.1f} ms over a bare interpreter, median of {args.runs}{verdict}")
        stdlib = [m for m in _modules(args.python, code, env) if not m.startswith("_")]
        print(
            f"  modules beyond the bare interpreter ({len(stdlib)} public, flowcept's own not listed): "
            f"{' '.join(stdlib)}"
        )


if __name__ == "__main__":
    main()
