"""How long listing plugins and importing the public API take, each in a fresh interpreter (one command):

    .venv/bin/python bench/bench_plugins.py [runs]

Prints min and median wall time of ``flowcept plugins``, of ``from flowcept import Flowcept, flowcept_task`` (less
the bare interpreter start) and of ``import flowcept_core.plugin``, and the self time -X importtime reports for the
import. Targets: plugins <= 150 ms, the import <= 20 ms.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

PY = sys.executable
CLI = os.path.join(os.path.dirname(PY), "flowcept")


def _wall(cmd: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append(time.perf_counter() - t0)
    return out


def _importtime(code: str) -> float:
    """Total cumulative microseconds of the top-level imports the statement triggers, as -X importtime reports."""
    err = subprocess.run([PY, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True).stderr
    base = subprocess.run([PY, "-X", "importtime", "-c", "pass"], capture_output=True, text=True).stderr
    seen = {line.rsplit("|", 1)[-1].strip() for line in base.splitlines()}
    total = 0
    for line in err.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and not parts[2].startswith("  ") and parts[2].strip() not in seen:
            total += int(parts[1])
    return total / 1000


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    bare = _wall([PY, "-c", "pass"], runs)
    rows = {
        "flowcept plugins": _wall([CLI, "plugins"], runs),
        "import flowcept (minus bare start)": [t - min(bare) for t in
                                               _wall([PY, "-c", "from flowcept import Flowcept, flowcept_task"], runs)],
        "import flowcept_core.plugin (minus bare)": [t - min(bare) for t in
                                                     _wall([PY, "-c", "import flowcept_core.plugin"], runs)],
    }
    print(f"{'what':<44}{'min ms':>10}{'median ms':>12}")
    print(f"{'bare interpreter start':<44}{min(bare) * 1e3:>10.1f}{statistics.median(bare) * 1e3:>12.1f}")
    for name, times in rows.items():
        print(f"{name:<44}{min(times) * 1e3:>10.1f}{statistics.median(times) * 1e3:>12.1f}")
    print(f"{'-X importtime: from flowcept import ...':<44}"
          f"{_importtime('from flowcept import Flowcept, flowcept_task'):>10.1f}")


if __name__ == "__main__":
    main()
