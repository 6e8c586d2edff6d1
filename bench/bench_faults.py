"""Fault scenarios at scale: the tests/reliability scenarios with N >= 100k tasks per producer, one table.

    .venv/bin/python bench/bench_faults.py                       # every MQ, every scenario, N=100000
    .venv/bin/python bench/bench_faults.py --n 200000 --mq redis --scenario normal_stop,inserter_killed

Each row: tasks produced, stored, lost, duplicated, what the DocumentInserter reported missing, seconds, and the
verdict of the scenario's guarantee (ok, or the assertion that failed). Brokers killed or cut are this script's own
(redis-server and Tansu on free ports; RabbitMQ is the pre-started one behind a cuttable proxy); the store outage
uses an own MongoDB-wire server. Everything started here is stopped by its process id.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.netfault import CuttableProxy  # noqa: E402
from tests.reliability import scenarios as sc  # noqa: E402
from tests.reliability.harness import Scenario  # noqa: E402
from tests.services import OwnMongoWire, OwnRedis, OwnTansu, free_port  # noqa: E402

SCENARIOS = ["normal_stop", "inserter_killed", "producer_sigterm", "producer_sigkill", "4x8",
             "broker_kept_data", "broker_lost_data", "store_down"]


class Env:
    """The servers of one row, stopped by close()."""

    def __init__(self, work: Path):
        self.work = work
        self.stoppers: list = []

    def redis(self, persist: bool) -> OwnRedis:
        server = OwnRedis(self.work / "redis", persist=persist)
        why = server.start()
        if why:
            raise RuntimeError(why)
        self.stoppers.append(server.stop)
        return server

    def tansu(self, proxied: bool) -> tuple[OwnTansu, CuttableProxy | None]:
        port = free_port()
        proxy = CuttableProxy("127.0.0.1", port) if proxied else None
        broker = OwnTansu(self.work / "tansu", port=port, advertised=proxy.port if proxy else None)
        why = broker.start()
        if why:
            raise RuntimeError(why)
        self.stoppers.append(broker.stop)
        if proxy:
            self.stoppers.append(proxy.close)
        return broker, proxy

    def rabbit_proxy(self) -> CuttableProxy:
        proxy = CuttableProxy("127.0.0.1", 5672)
        self.stoppers.append(proxy.close)
        return proxy

    def mongo(self) -> OwnMongoWire:
        server = OwnMongoWire(self.work / "nx")
        why = server.up()
        if why:
            raise RuntimeError(why)
        self.stoppers.append(server.down)
        return server

    def close(self) -> None:
        for stop in reversed(self.stoppers):
            stop()


def _mq(kind: str, port: int) -> dict:
    base = {"type": kind, "host": "127.0.0.1", "port": port}
    if kind == "rabbitmq":
        base.update(username="guest", password="guest")
    return base


def run_row(kind: str, name: str, n: int, work: Path) -> tuple:
    """(produced, stored, lost, duplicated, reported, seconds, verdict) of one scenario on one MQ."""
    env = Env(work)
    s = None
    reported = 0
    try:
        stores = None
        if name == "store_down":
            mongo = env.mongo()
            stores = mongo.stores()
        if kind == "redis":
            server = env.redis(persist=name == "broker_kept_data")
            mq, down, up = _mq("redis", server.port), server.crash, server.restart
        elif kind == "kafka":
            broker, proxy = env.tansu(proxied=name == "broker_kept_data")
            if proxy:
                mq, down, up = _mq("kafka", proxy.port), proxy.cut, proxy.restore
            else:
                mq, down, up = _mq("kafka", broker.port), broker.crash, broker.restart
        else:
            proxy = env.rabbit_proxy()
            mq, down, up = _mq("rabbitmq", proxy.port), proxy.cut, proxy.restore
        s = Scenario(work, mq, stores)
        if kind == "rabbitmq" and name == "broker_lost_data":
            down = _rabbit_queue_loss(proxy, s)
        t0 = time.monotonic()
        if name == "normal_stop":
            out = sc.normal_stop(s, n)
        elif name == "inserter_killed":
            out = sc.inserter_killed_and_restarted(s, n)
        elif name == "producer_sigterm":
            out = sc.producer_sigterm(s, n)
        elif name == "producer_sigkill":
            out, _ = sc.producer_sigkill(s, n, window=1.2)
        elif name == "4x8":
            out = sc.many_processes(s, n // 4)
        elif name in ("broker_kept_data", "broker_lost_data"):
            out, _, reported = sc.broker_outage(s, n, down, up, keeps_data=name == "broker_kept_data")
        else:
            out = sc.store_outage(s, n, mongo.down, mongo.up)
        verdict = "ok"
    except AssertionError as e:
        out, verdict = None, f"FAIL {str(e)[:120]}"
    except Exception as e:
        out, verdict = None, f"ERROR {type(e).__name__}: {str(e)[:120]}"
    finally:
        secs = time.monotonic() - t0 if "t0" in locals() else 0.0
        if s is not None:
            s.close()
        env.close()
    if out is None:
        return ("-", "-", "-", "-", reported, secs, verdict)
    return (out.expected, out.stored, len(out.lost), len(out.duplicated), reported, secs, verdict)


def _rabbit_queue_loss(proxy: CuttableProxy, s: Scenario):
    def down() -> None:
        import pika

        proxy.cut()
        conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", 5672))
        try:
            conn.channel().queue_delete(queue=f"{s.tree['mq']['channel']}.flowcept_persistence")
        finally:
            conn.close()

    return down


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="tasks per producer (default 100000)")
    ap.add_argument("--mq", default="redis,kafka,rabbitmq")
    ap.add_argument("--scenario", default=",".join(SCENARIOS), help=f"comma list of {SCENARIOS}")
    a = ap.parse_args()
    sc.STORE_WAIT = max(120.0, a.n / 500)
    print(f"{'mq':9} {'scenario':17} {'produced':>9} {'stored':>9} {'lost':>7} {'dup':>5} {'reported':>8} "
          f"{'secs':>7}  verdict", flush=True)
    for kind in a.mq.split(","):
        for name in a.scenario.split(","):
            work = Path(tempfile.mkdtemp(prefix=f"faults-{kind}-{name}-"))
            row = run_row(kind, name, a.n, work)
            print(f"{kind:9} {name:17} {row[0]:>9} {row[1]:>9} {row[2]:>7} {row[3]:>5} {row[4]:>8} "
                  f"{row[5]:>7.1f}  {row[6]}", flush=True)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
