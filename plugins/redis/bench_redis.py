"""Throughput of the redis MQ backend: publish small task messages in batches, consume them on another thread.

Usage: python plugins/redis/bench_redis.py [--host 127.0.0.1] [--port 6379] [--messages 100000] [--batch 500]

Prints messages/s end to end (first publish until the consumer has decoded the last message), the publish rate
seen by the caller, and how long close() took to have every batch acknowledged. The stream is deleted afterwards.
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid

from flowcept_redis.backend import RedisMQ

from flowcept_core.plugin import Settings


def _task(i: int, workflow_id: str) -> dict:
    now = time.time()
    return {
        "type": "task",
        "task_id": f"bench-{i}",
        "activity_id": "square",
        "workflow_id": workflow_id,
        "used": {"x": i},
        "generated": {"y": i * i},
        "started_at": now,
        "ended_at": now,
        "status": "FINISHED",
        "hostname": "bench",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=6379)
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=500, help="mq.buffer_size: messages per published batch")
    args = ap.parse_args()

    channel = f"bench-redis-{uuid.uuid4().hex[:8]}"
    settings = Settings({"mq": {"type": "redis", "host": args.host, "port": args.port, "buffer_size": args.batch}})
    mq = RedisMQ(settings, channel)
    sub = mq.subscribe()
    workflow_id = str(uuid.uuid4())
    batches = [
        [_task(i, workflow_id) for i in range(s, min(s + args.batch, args.messages))]
        for s in range(0, args.messages, args.batch)
    ]
    received = 0
    done_at = 0.0

    def consume() -> None:
        nonlocal received, done_at
        deadline = time.monotonic() + 300
        while received < args.messages and time.monotonic() < deadline:
            received += len(sub.receive(0.5))
        done_at = time.perf_counter()

    consumer = threading.Thread(target=consume, name="bench-consumer")
    consumer.start()
    t0 = time.perf_counter()
    for batch in batches:
        mq.publish(batch)
    t_published = time.perf_counter()
    undelivered = mq.close(60)
    t_closed = time.perf_counter()
    consumer.join()
    sub.close()
    cleanup = mq.info.client()
    cleanup.delete(channel)
    cleanup.close()

    total = done_at - t0
    print(f"redis MQ at {args.host}:{args.port}: {args.messages} messages in batches of {args.batch}")
    print(f"  end to end: {received} received in {total:.3f} s = {received / total:,.0f} messages/s")
    print(f"  publish():  {args.messages / (t_published - t0):,.0f} messages/s (encode + queue, caller's view)")
    print(f"  close():    {(t_closed - t_published) * 1000:.1f} ms, undelivered={undelivered}")
    if received != args.messages:
        raise SystemExit(f"lost messages: received {received} of {args.messages}")


if __name__ == "__main__":
    main()
