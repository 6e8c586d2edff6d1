#!/usr/bin/env python3
"""@flowcept_torch: the time a recorded forward adds to an MLP's forward, against upstream Flowcept's decorator.

    .venv/bin/python bench/bench_torch.py [--upstream VENV] [--pairs 60] [--widths 512 4096] [--threads 1]

The model: three ``nn.Linear(width, width)`` layers with ReLUs between them (five direct children), batch 64,
``torch.no_grad()``, torch limited to --threads threads (the other core is left to the pipeline's threads). For each
implementation and ``instrumentation.torch.what`` (parent_only; parent_and_children with children_mode
tensor_inspection), a fresh process builds a plain model and a decorated one with the same weights inside a started
Flowcept and times ``pairs`` forwards of each, one right after the other (the order alternating), after 5 warm-up
calls. The layers (Linear, ReLU) time their own forward code, so what the decorator adds on the caller's path is
measured apart from the matrix products, whose time swings by several % on a busy machine. Printed per row:

- plain ms: the plain model's forward, median wall-clock time;
- added us / %: median over the decorated calls of (call time - time inside the layers' code), minus the same for
  the plain calls; the wall-clock time the decorator adds to a forward, as % of the plain forward;
- CPU us / %: the same in CPU time of the calling thread (``time.thread_time``), as % of the plain forward's CPU time;
- end-to-end us: the median per-pair difference of whole forward times (includes the pipeline threads' effect on the
  caller; noisy on a loaded machine).

Settings: telemetry off for both (this measures capture, not telemetry). This project: the default pipeline
(in-process MQ -> DocumentInserter -> LMDB in a temporary directory), records built and stored by its threads.
Upstream (``--upstream VENV``: a venv with ``flowcept==1.0.3`` and the same torch, e.g. ``python3 -m venv
/tmp/upvenv_torch && /tmp/upvenv_torch/bin/pip install flowcept==1.0.3 torch==2.13.0``): its sample settings with
the MQ disabled (its offline buffer), run by that venv's interpreter from a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

MODES = {"parent_only": {"what": "parent_only"},
         "parent_and_children": {"what": "parent_and_children", "children_mode": "tensor_inspection"}}
BATCH = 64


def _settings_text(impl: str, mode: str) -> str:
    torch_keys = {"epoch_loop": None, "batch_loop": None, "capture_epochs_at_every": 1, "register_workflow": True,
                  **MODES[mode]}
    if impl == "upstream":
        import flowcept  # upstream's package, in its own venv

        sample = os.path.join(os.path.dirname(os.path.dirname(flowcept.__file__)), "resources", "sample_settings.yaml")
        import yaml

        with open(sample) as f:
            tree = yaml.safe_load(f)
        tree["mq"]["enabled"] = False
        tree["project"]["db_flush_mode"] = "offline"
        tree["instrumentation"]["torch"] = torch_keys
        for key in list(tree.get("telemetry_capture") or {}):
            tree["telemetry_capture"][key] = None if key == "gpu" else False
    else:
        tree = {"telemetry_capture": {},  # every part off "instrumentation": {"torch": torch_keys},
                "log": {"log_stream_level": "error", "log_file_level": "disable"}}
    import yaml

    return yaml.safe_dump(tree)


def worker(impl: str, mode: str, widths: list[int], pairs: int, threads: int) -> dict:
    """Runs in a fresh process: times plain and decorated forwards for each width; returns the figures."""
    with open("settings.yaml", "w") as f:
        f.write(_settings_text(impl, mode))
    os.environ["FLOWCEPT_SETTINGS_PATH"] = os.path.abspath("settings.yaml")
    import torch
    from torch import nn

    from flowcept import Flowcept
    from flowcept.instrumentation.flowcept_torch import flowcept_torch

    torch.set_num_threads(threads)
    body = [0.0, 0.0]  # wall and CPU seconds spent inside the layers' own forward code, this call

    def timed(layer_cls: type) -> type:
        class Timed(layer_cls):
            def forward(self, x):
                c0, t0 = time.thread_time(), time.perf_counter()
                y = layer_cls.forward(self, x)
                body[0] += time.perf_counter() - t0
                body[1] += time.thread_time() - c0
                return y

        Timed.__name__ = layer_cls.__name__
        return Timed

    Linear, ReLU = timed(nn.Linear), timed(nn.ReLU)

    class MLP(nn.Module):
        def __init__(self, width: int = 512, **kwargs):
            super().__init__()
            self.l1, self.a1 = Linear(width, width), ReLU()
            self.l2, self.a2 = Linear(width, width), ReLU()
            self.l3 = Linear(width, width)

        def forward(self, x):
            return self.l3(self.a2(self.l2(self.a1(self.l1(x)))))

    def call(model: nn.Module, x: object) -> tuple[float, float, float, float]:
        """(wall, CPU) of the whole call, and of the call outside the layers' own code."""
        body[0] = body[1] = 0.0
        c0, t0 = time.thread_time(), time.perf_counter()
        model(x)
        t1, c1 = time.perf_counter(), time.thread_time()
        return t1 - t0, c1 - c0, t1 - t0 - body[0], c1 - c0 - body[1]

    Decorated = flowcept_torch(MLP)
    rows = {}
    with Flowcept(workflow_name=f"bench_torch_{mode}"):
        for width in widths:
            torch.manual_seed(0)
            plain = MLP(width)
            decorated = Decorated(width)
            decorated.load_state_dict(plain.state_dict())
            x = torch.randn(BATCH, width)
            res: dict[bool, list] = {False: [], True: []}
            with torch.no_grad():
                assert torch.equal(plain(x), decorated(x))
                for _ in range(5):
                    plain(x)
                    decorated(x)
                for i in range(pairs):
                    for model in ((plain, decorated) if i % 2 == 0 else (decorated, plain)):
                        res[model is decorated].append(call(model, x))
            med = {k: [statistics.median(r[j] for r in v) for j in range(4)] for k, v in res.items()}
            plain_wall, plain_cpu = med[False][0], med[False][1]
            added_wall = med[True][2] - med[False][2]  # the decorator's own time on the caller's path
            added_cpu = med[True][3] - med[False][3]
            pair_diff = statistics.median(d[0] - p[0] for d, p in zip(res[True], res[False], strict=True))
            rows[width] = {"plain_ms": plain_wall * 1e3, "added_us": added_wall * 1e6,
                           "added_pct": 100 * added_wall / plain_wall, "cpu_added_us": added_cpu * 1e6,
                           "cpu_added_pct": 100 * added_cpu / plain_cpu, "pair_diff_us": pair_diff * 1e6}
    return rows


def _run(python: str, impl: str, mode: str, args: argparse.Namespace) -> dict | str:
    cmd = [python, os.path.abspath(__file__), "--worker", impl, mode, "--pairs", str(args.pairs), "--threads",
           str(args.threads), "--widths", *map(str, args.widths)]
    with tempfile.TemporaryDirectory(prefix=f"bench_torch_{impl}_") as tmp:
        env = {k: v for k, v in os.environ.items() if k != "FLOWCEPT_SETTINGS_PATH"}
        env["HOME"] = tmp
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=1800)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return f"failed (exit {proc.returncode}): {(proc.stderr or proc.stdout).strip()[-400:]}"
    return {int(k): v for k, v in json.loads(lines[-1]).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", metavar="VENV", help="a venv with flowcept==1.0.3 and the same torch")
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument("--widths", type=int, nargs="+", default=[512, 4096])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker", nargs=2, metavar=("IMPL", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], args.widths, args.pairs, args.threads)))
        return
    impls = [("flowcept", sys.executable)]
    if args.upstream:
        impls.append(("upstream", os.path.join(args.upstream, "bin", "python")))
    import torch

    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {BATCH}, {args.pairs} pairs per row, "
          "medians")
    print(f"{'impl':<10} {'mode':<20} {'width':>6} {'plain ms':>9} {'added us':>9} {'added %':>8} "
          f"{'CPU us':>8} {'CPU %':>7} {'end-to-end us':>14}")
    for mode in MODES:
        for impl, python in impls:
            rows = _run(python, impl, mode, args)
            if isinstance(rows, str):
                print(f"{impl:<10} {mode:<20} {rows}")
                continue
            for width, r in sorted(rows.items()):
                print(f"{impl:<10} {mode:<20} {width:>6} {r['plain_ms']:>9.3f} {r['added_us']:>9.1f} "
                      f"{r['added_pct']:>7.3f}% {r['cpu_added_us']:>8.1f} {r['cpu_added_pct']:>6.2f}% "
                      f"{r['pair_diff_us']:>14.1f}", flush=True)

if __name__ == "__main__":
    main()
