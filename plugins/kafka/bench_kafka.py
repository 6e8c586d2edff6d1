"""Throughput of the kafka MQ backend: 100k small task messages, batches of mq.buffer_size=500, end to end.

Run against a broker on 127.0.0.1:19092 (see tests/conftest.py for starting Tansu), or pass host:port::

    .venv/bin/python plugins/kafka/bench_kafka.py [127.0.0.1:19092] [--messages 100000] [--batch 500]

Prints messages/s from the first publish until the subscriber (another thread) has received the last message,
and how long close() took to confirm every batch was acknowledged.
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid

from flowcept_kafka.backend import KafkaMQ


class _Settings(dict):
    """The dotted-key get() that KafkaMQ reads settings through."""

    def get(self, key, default=None):
        return super().get(key, default)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address", nargs="?", default="127.0.0.1:19092", help="Kafka broker host:port")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500, help="mq.buffer_size: messages per published batch")
    args = parser.parse_args()
    host, port = args.address.rsplit(":", 1)
    settings = _Settings({"mq.host": host, "mq.port": int(port), "mq.buffer_size": args.batch})
    backend = KafkaMQ(settings, f"bench-{uuid.uuid4().hex[:12]}")
    sub = backend.subscribe()
    received = 0
    done = threading.Event()

    def consume() -> None:
        nonlocal received
        deadline = time.monotonic() + 300
        while received < args.messages and time.monotonic() < deadline:
            received += len(sub.receive(0.5))
        done.set()

    consumer = threading.Thread(target=consume, name="bench-consumer")
    consumer.start()
    wid = str(uuid.uuid4())
    t0 = time.perf_counter()
    for start in range(0, args.messages, args.batch):
        batch = [
            {
                "type": "task",
                "task_id": f"t{i}",
                "workflow_id": wid,
                "activity_id": "double",
                "used": {"x": i},
                "generated": {"y": 2 * i},
                "started_at": t0,
                "ended_at": t0,
                "status": "FINISHED",
            }
            for i in range(start, min(start + args.batch, args.messages))
        ]
        backend.publish(batch)
    t_published = time.perf_counter()
    c0 = time.perf_counter()
    undelivered = backend.close(60)
    close_secs = time.perf_counter() - c0
    done.wait(300)
    t_end = time.perf_counter()
    consumer.join()
    sub.close()
    print(
        f"published {args.messages} messages in batches of {args.batch}: "
        f"{args.messages / (t_published - t0):,.0f} msg/s publish rate"
    )
    print(f"received {received}/{args.messages} end to end in {t_end - t0:.2f} s: {received / (t_end - t0):,.0f} msg/s")
    print(f"close(): {close_secs * 1000:.1f} ms, undelivered {undelivered}")


if __name__ == "__main__":
    main()
