#!/usr/bin/env python3
"""What value checks and secret masking cost per captured call, off the caller's path.

    .venv/bin/python bench/bench_values.py [--records 1024] [--rounds 40]

Prints ns per record to build task messages (in-process MQ, offline) and to pack records (networked MQs), with
masking on (the default) and off (``project.redact_secrets: false``), interleaved in one process so machine load
hits both alike; then ns per value of sanitize() for the odd values docs/values-and-secrets.md lists.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from flowcept_core.capture.templates import TaskTemplate  # noqa: E402
from flowcept_core.packed import pack  # noqa: E402
from flowcept_core.redact import DEFAULT_REDACTOR  # noqa: E402
from flowcept_core.serialize import ValueLimits, sanitize  # noqa: E402


class _Run:
    """The parts of a Run that materialize() and pack() read."""

    def __init__(self, limits: ValueLimits):
        self.limits = limits
        self.workflow_id, self.campaign_id, self.enrich = "wf", "camp", True
        self.host_fields, self.telemetry = {"hostname": "h"}, None

    def _clean(self, msg: dict) -> dict:
        return msg

    def format_id(self, n: int) -> str:
        return f"p-{n}"

    def sanitize(self, value):
        return sanitize(value, self.limits)


def inc(x):
    return x + 1


def configure(config, api_key):
    return {"ok": True}


def _records(tmpl: TaskTemplate, n: int, arg) -> list:
    raw: list = []
    for i in range(n):
        a = arg(i)
        raw.extend((tmpl, i, None, 1.0, 2.0, a, None, i + 1, None, None, None))
    return raw


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=40)
    args = ap.parse_args()
    cases = {
        "int argument": (inc, lambda i: (i,)),
        "dict argument + secret": (configure, lambda i: ({"host": "db", "port": i, "password": "pw"}, "k")),
    }
    sides = {"masking on": _Run(ValueLimits(redact=DEFAULT_REDACTOR)), "masking off": _Run(ValueLimits(redact=None))}
    best: dict = {}
    for name, (func, arg) in cases.items():
        tmpl = TaskTemplate(func)
        raw = _records(tmpl, args.records, arg)
        width = tmpl.width
        for _ in range(args.rounds):
            for side, run in sides.items():
                t0 = time.perf_counter()
                for j in range(0, len(raw), width):
                    tmpl.materialize(raw[j:j + width], run)
                t1 = time.perf_counter()
                pack(run, raw)
                t2 = time.perf_counter()
                for key, dt in (("build", t1 - t0), ("pack", t2 - t1)):
                    k = (name, side, key)
                    best[k] = min(best.get(k, 1e9), dt / args.records * 1e9)
    print(f"{'records':24s} {'side':12s} {'build msg ns':>13s} {'pack ns':>9s}")
    for name in cases:
        for side in sides:
            print(f"{name:24s} {side:12s} {best[(name, side, 'build')]:13.0f} {best[(name, side, 'pack')]:9.0f}")
    odd = {"huge int": 10**5000, "u64 int": 2**63 + 5, "lone surrogate": "a\ud800b", "tuple keys": {(1, 2): 3},
           "Decimal": Decimal("1.10"), "NaN": float("nan"), "3 MiB bytes": b"x" * (3 << 20),
           "URL with password": "postgres://u:pw@h/db", "nested secret": {"db": {"password": "pw", "host": "h"}}}
    print(f"\n{'sanitize()':24s} {'ns per value':>13s}")
    for name, value in odd.items():
        n = 20 if isinstance(value, bytes) else 2000
        t = min(_time(value, n) for _ in range(5))
        print(f"{name:24s} {t:13.0f}")


def _time(value, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        sanitize(value)
    return (time.perf_counter() - t0) / n * 1e9


if __name__ == "__main__":
    main()
