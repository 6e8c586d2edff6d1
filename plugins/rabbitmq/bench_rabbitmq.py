"""Throughput of the rabbitmq backend end to end: publish 100k small task messages in batches of mq.buffer_size
(500) through the backend while a subscription on another thread consumes them.

Run: .venv/bin/python plugins/rabbitmq/bench_rabbitmq.py [--host 127.0.0.1] [--port 5672] [--messages 100000]
Prints messages/s from the first publish to the last message received, and how long close() took.
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid

from flowcept_rabbitmq.backend import RabbitMQBackend as rabbitmq_factory

from flowcept_core.plugin import Settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5672)
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=500, help="mq.buffer_size")
    ap.add_argument("--group", action="store_true", help="consume through a durable group instead of a private queue")
    args = ap.parse_args()

    settings = Settings({"mq": {"type": "rabbitmq", "host": args.host, "port": args.port, "buffer_size": args.batch}})
    mq = rabbitmq_factory(settings, f"bench-{uuid.uuid4().hex[:8]}")
    group = f"bench-{uuid.uuid4().hex[:6]}" if args.group else None
    sub = mq.subscribe(group=group)
    received = 0
    done = threading.Event()

    def consume() -> None:
        nonlocal received
        deadline = time.monotonic() + 300
        while received < args.messages and time.monotonic() < deadline:
            received += len(sub.receive(0.2))
            sub.ack()
        done.set()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    t0 = time.perf_counter()
    for start in range(0, args.messages, args.batch):
        mq.publish(
            [
                {
                    "type": "task",
                    "task_id": f"t{i}",
                    "activity_id": "bench",
                    "workflow_id": "w",
                    "used": {"x": i},
                    "generated": {"y": 2 * i},
                    "started_at": t0,
                    "ended_at": t0,
                    "status": "FINISHED",
                }
                for i in range(start, min(start + args.batch, args.messages))
            ]
        )
    t_published = time.perf_counter()
    done.wait()
    t_received = time.perf_counter()
    c0 = time.perf_counter()
    undelivered = mq.close(30)
    close_secs = time.perf_counter() - c0
    sub.close()
    kind = f"group {group}" if group else "private subscription"
    print(f"rabbitmq {args.host}:{args.port}, {kind}, batches of {args.batch}: {received}/{args.messages} received")
    print(
        f"publish: {args.messages / (t_published - t0):,.0f} msg/s; end to end: "
        f"{received / (t_received - t0):,.0f} msg/s ({t_received - t0:.2f} s)"
    )
    print(f"close(): {close_secs * 1000:.1f} ms, undelivered={undelivered}")


if __name__ == "__main__":
    main()
