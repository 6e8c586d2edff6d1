"""A producer process for the fault suite: decorated tasks through the public API, then a normal stop.

Usage: python producer.py TAG N THREADS [--pace SECS] [--hold] [--every K]
Settings come from FLOWCEPT_SETTINGS_PATH; the workflow id from FLOWCEPT_TEST_WORKFLOW_ID.
Each call work(TAG, i) returns {"y": 2 * i}: the store is checked against exactly that. Prints to stdout, flushed:
``STARTED``, ``AT <calls done> <unix time>`` every K calls (single thread), ``PRODUCED <n>`` once every call
returned, ``STOPPED`` after Flowcept.stop(). With --hold it waits after PRODUCED until signalled.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

from flowcept import Flowcept, flowcept_task


@flowcept_task
def work(tag: str, i: int) -> dict:
    return {"y": 2 * i}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("tag")
    ap.add_argument("n", type=int)
    ap.add_argument("threads", type=int)
    ap.add_argument("--pace", type=float, default=0.0, help="seconds to sleep every 100 calls of a thread")
    ap.add_argument("--hold", action="store_true")
    ap.add_argument("--every", type=int, default=0)
    a = ap.parse_args()
    fc = Flowcept(workflow_id=os.environ["FLOWCEPT_TEST_WORKFLOW_ID"], workflow_name="faults",
                  start_persistence=False)
    fc.start()
    print("STARTED", flush=True)

    def run(t: int) -> None:
        for i in range(t, a.n, a.threads):
            work(a.tag, i)
            if a.pace and i % 100 == 0:
                time.sleep(a.pace)
            if a.every and a.threads == 1 and (i + 1) % a.every == 0:
                print(f"AT {i + 1} {time.time()}", flush=True)

    workers = [threading.Thread(target=run, args=(t,)) for t in range(a.threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(f"PRODUCED {a.n}", flush=True)
    if a.hold:
        while True:
            time.sleep(0.05)
    fc.stop()
    print("STOPPED", flush=True)


if __name__ == "__main__":
    sys.exit(main())
