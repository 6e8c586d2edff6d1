"""What dead-lettering costs the DocumentInserter: storing a batch of N tasks as usual, against the same batch with
one document the store refuses (found by halving the batch, dead-lettered, the rest stored) and with one malformed
entry (refused before the write).

    .venv/bin/python bench/bench_dead_letter.py [--n 10000] [--reps 5]

Prints the median store time of each case and its ratio to the normal one (the target: <= 2x). LMDB store in a
temporary directory; the inserter's flush() is timed, as its thread would run it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flowcept_core.consumers.document_inserter import DocumentInserter  # noqa: E402
from flowcept_core.settings import load_settings  # noqa: E402
from flowcept_core.stores import close_stores, open_store  # noqa: E402


def _batch(tag: str, n: int, bad: str | None) -> list[dict]:
    batch = [{"type": "task", "task_id": f"{tag}-{i}", "workflow_id": "wf", "activity_id": "step", "status": "FINISHED",
              "started_at": 1.7e9 + i, "ended_at": 1.7e9 + i + 0.5, "used": {"x": i, "name": f"item {i}"},
              "generated": {"y": 2 * i}} for i in range(n)]
    where = n * 2 // 3
    if bad == "refused":
        batch[where]["used"]["obj"] = object()  # LMDB cannot encode it
    elif bad == "malformed":
        batch[where]["used"] = 5
    return batch


def _time_flush(inserter: DocumentInserter, batch: list[dict]) -> float:
    inserter._dispatch(batch)
    t0 = time.perf_counter()
    inserter.flush()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(env={"LMDB_PATH": str(Path(tmp) / "db"), "LMDB_ENABLED": "true"})
        store = open_store(settings, "lmdb")
        inserter = DocumentInserter(settings, mq=object(), stores=[store])
        _time_flush(inserter, _batch("warm", args.n, None))
        times: dict[str, list[float]] = {"normal": [], "refused": [], "malformed": []}
        for rep in range(args.reps):
            for case in times:  # interleaved, so drift affects every case alike
                times[case].append(_time_flush(inserter, _batch(f"{case}{rep}", args.n, None if case == "normal"
                                                                else case)))
        letters = store.count("dead_letters")
        close_stores()
    base = statistics.median(times["normal"])
    print(f"batch of {args.n} tasks, LMDB, median of {args.reps}")
    for case, label in (("normal", "normal store"), ("refused", "one document the store refuses"),
                        ("malformed", "one malformed entry")):
        t = statistics.median(times[case])
        print(f"  {label:32s} {t * 1000:8.1f} ms  {t / base:5.2f}x")
    print(f"  dead letters written: {letters} (expected {2 * args.reps})")


if __name__ == "__main__":
    main()
