"""The fault scenarios, written once and run against each MQ by the test modules (and by bench/bench_faults.py with
a large N). Each returns the Outcome (store versus produced) after asserting what its guarantee says."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable

from tests.reliability.harness import Outcome, Proc, Scenario

STORE_WAIT = 120.0


def done_before(p: Proc, t: float) -> int:
    """Calls a single-thread producer had completed by time t (from its AT lines): later calls came after t."""
    done = 0
    for line in list(p.lines):
        if line.startswith("AT "):
            _, k, at = line.split()
            if float(at) <= t:
                done = max(done, int(k))
    return done


def assert_complete(s: Scenario, out: Outcome) -> None:
    assert not out.lost and not out.duplicated and not out.wrong and not out.unexpected, str(out)


def normal_stop(s: Scenario, n: int) -> Outcome:
    """Two producers stop normally: every task stored once, with its content."""
    s.inserter()
    producers = [s.producer(tag, n) for tag in ("a", "b")]
    for p in producers:
        p.wait_line("STOPPED", STORE_WAIT)
    out = s.outcome(s.wait_stored(len(s.produced), STORE_WAIT))
    assert_complete(s, out)
    return out


def inserter_killed_and_restarted(s: Scenario, n: int) -> Outcome:
    """The DocumentInserter is SIGKILLed mid-run and a new one started: what the first had not stored is redelivered."""
    first = s.inserter()
    p = s.producer("a", n, pace=0.05, every=100)
    p.wait_line(f"AT {max(100, n // 300 * 100)} ", STORE_WAIT)
    s.kill(first)
    s.inserter()
    p.wait_line("STOPPED", STORE_WAIT)
    out = s.outcome(s.wait_stored(len(s.produced), STORE_WAIT))
    assert_complete(s, out)
    return out


def producer_sigterm(s: Scenario, n: int) -> Outcome:
    """A producer gets SIGTERM after its calls returned (its buffer not yet flushed): it delivers everything."""
    s.inserter()
    p = s.producer("a", n, threads=2, hold=True)
    p.wait_line("PRODUCED", STORE_WAIT)
    p.signal(signal.SIGTERM)
    assert p.wait(90) == 128 + signal.SIGTERM, p.stderr()[-2000:]
    out = s.outcome(s.wait_stored(len(s.produced), STORE_WAIT))
    assert_complete(s, out)
    return out


def producer_sigkill(s: Scenario, n: int, window: float) -> tuple[Outcome, int]:
    """A producer is SIGKILLed mid-run: every task captured more than `window` seconds before the kill is stored
    (the bound: mq.insertion_buffer_time_secs plus a broker round trip); nothing is stored twice or invented.
    Returns (outcome against all calls started, tasks lost)."""
    s.inserter()
    p = s.producer("a", n, pace=0.05, every=100)
    p.wait_line(f"AT {max(200, n // 200 * 100)} ", STORE_WAIT)
    time.sleep(0.3)
    killed_at = time.time()
    s.kill(p)
    safe = done_before(p, killed_at - window)
    reached = done_before(p, killed_at) + 100  # calls in progress when the last AT line was printed
    docs = s.wait_stored(safe, STORE_WAIT, settle=2.0)
    out = s.outcome(docs, {("a", i) for i in range(min(reached, n))})
    assert not [k for k in out.lost if k[1] < safe], f"tasks captured {window}s before the kill were lost: {out}"
    assert not out.duplicated and not out.wrong and not out.unexpected, str(out)
    return out, len(out.lost)


def many_processes(s: Scenario, n: int, processes: int = 4, threads: int = 8) -> Outcome:
    """processes x threads producers at once: every task stored once."""
    s.inserter()
    producers = [s.producer(f"p{k}", n, threads=threads) for k in range(processes)]
    for p in producers:
        p.wait_line("STOPPED", STORE_WAIT * 2)
    out = s.outcome(s.wait_stored(len(s.produced), STORE_WAIT * 2))
    assert_complete(s, out)
    return out


def broker_outage(s: Scenario, n: int, down: Callable[[], None], up: Callable[[], None], keeps_data: bool,
                  restart_inserter: bool = False) -> tuple[Outcome, int, int]:
    """The broker goes away for ~2 s mid-run while the inserter lags behind (paused with SIGSTOP, so the broker holds
    a backlog), then comes back.

    keeps_data: 0 lost. Otherwise: every task captured after the outage began is stored, and the inserter reports
    (at the producer's end of stream) how many messages never reached it: at least 1 and at most the tasks lost
    (+2: the stream marker and the workflow record).
    restart_inserter: the inserter is also killed during the outage and a new one started after it.
    Returns (outcome, tasks lost, messages the inserter reported missing).
    """
    ins = s.inserter()
    ins.wait_line("READY", STORE_WAIT)  # paused before it connects, it would first connect during the outage
    p = s.producer("a", n, pace=0.05, every=100)
    p.wait_line(f"AT {max(100, n // 600 * 100)} ", STORE_WAIT)
    ins.signal(signal.SIGSTOP)
    p.wait_line(f"AT {max(200, n // 300 * 100)} ", STORE_WAIT)
    down()
    down_at = time.time()
    if restart_inserter:
        s.kill(ins)
    else:
        ins.signal(signal.SIGCONT)
    time.sleep(2)
    up()
    if restart_inserter:
        time.sleep(1)  # producers are writing to the restarted broker before the new inserter joins
        ins = s.inserter()
    p.wait_line("STOPPED", STORE_WAIT)
    assert p.wait(30) == 0, p.stderr()[-2000:]
    after = {("a", i) for i in range(done_before(p, down_at), n)}
    if keeps_data:
        out = s.outcome(s.wait_stored(len(s.produced), STORE_WAIT))
        assert_complete(s, out)
        return out, 0, 0
    s.wait_stored(1, 30, settle=0)  # a new inserter first joins the group (seconds on Kafka)
    out = s.outcome(s.wait_stable(len(s.produced), STORE_WAIT, quiet=3.0))
    # logged when the producer's end of stream arrives
    reported = missing_reported(ins, s.workflow_id, 30 if out.lost else 0)
    assert not [k for k in out.lost if k in after], f"tasks captured after the outage began were lost: {out}"
    assert not out.duplicated and not out.wrong and not out.unexpected, str(out)
    assert ins.popen.poll() is None, f"the inserter exited {ins.popen.poll()}: {ins.stderr()[-2000:]}"
    if out.lost:
        assert reported > 0, f"the inserter did not report the loss; {out}"
        if not restart_inserter:  # a new inserter also counts what its killed predecessor had stored as missing
            # the start-of-stream marker and the workflow record are messages too, lost with the first tasks
            assert reported <= len(out.lost) + 2, f"inserter reported {reported} missing; {out}"
    return out, len(out.lost), reported


def missing_reported(ins: Proc, workflow_id: str, timeout: float) -> int:
    """The count in the inserter's "never reached the DocumentInserter" report for workflow_id (0 if none)."""
    pattern = re.compile(rf"workflow {re.escape(workflow_id)}: (\d+) messages its producers published never")
    deadline = time.monotonic() + timeout
    while True:
        m = pattern.findall(ins.stderr())
        if m or time.monotonic() > deadline:
            return int(m[-1]) if m else 0
        time.sleep(0.3)


def store_outage(s: Scenario, n: int, down: Callable[[], None], up: Callable[[], str | None],
                 secs: float = 10.0) -> Outcome:
    """The store is down for `secs` mid-run: the inserter keeps the batch, acknowledges nothing, retries; 0 lost."""
    s.inserter()
    p = s.producer("a", n, pace=0.05, every=100)
    p.wait_line(f"AT {max(100, n // 300 * 100)} ", STORE_WAIT)
    s.wait_stored(1, STORE_WAIT, settle=0)  # the inserter is up and storing
    down()
    time.sleep(secs)
    why = up()
    assert why is None, f"the store did not come back: {why}"
    p.wait_line("STOPPED", STORE_WAIT)
    out = s.outcome(s.wait_stored(len(s.produced), STORE_WAIT))
    assert_complete(s, out)
    return out
