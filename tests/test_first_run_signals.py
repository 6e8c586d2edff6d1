"""Ctrl+C or SIGTERM of a program using flowcept prints no "Exception ignored in: <module 'threading'>" traceback,
and what was captured is still delivered: the documented consumer and persistence-only process (kept alive by their
consumer thread), and a program killed while it runs tasks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

CONSUMER = """
from flowcept.flowceptor.consumers.base_consumer import BaseConsumer

class MyConsumer(BaseConsumer):
    def message_handler(self, msg_obj):
        return True

print("Starting consumer indefinitely. Press ctrl+c to stop", flush=True)
MyConsumer().start(daemon=False)
"""

PERSISTENCE = """
from flowcept import Flowcept

fc = Flowcept(workflow_name="distributed_process_example", start_persistence=True, check_safe_stops=False)
fc.start()
print("started", flush=True)
"""

PRODUCER = """
import sys
from flowcept import Flowcept, flowcept_task

@flowcept_task
def double(x):
    return 2 * x

fc = Flowcept(workflow_id=sys.argv[1], start_persistence=False, check_safe_stops=False, save_workflows=False)
fc.start()
for i in range(5):
    double(i)
fc.stop()
"""

BUSY = """
import time
from flowcept import Flowcept, flowcept_task

@flowcept_task
def step(x):
    time.sleep(0.001)
    return x

with Flowcept(workflow_name="busy"):
    print("started", flush=True)
    i = 0
    while True:
        step(i)
        i += 1
"""


def _start(script: str, cwd, env: dict) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as in a terminal
    line = proc.stdout.readline()
    assert line, proc.communicate(timeout=30)[1]
    return proc


def _signal(proc: subprocess.Popen, sig: int) -> tuple[int, str]:
    time.sleep(0.3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def _env(tmp_path, settings: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "FLOWCEPT_SETTINGS_PATH"}
    env["HOME"] = str(tmp_path)
    if settings:
        env["FLOWCEPT_SETTINGS_PATH"] = settings
    return env


def test_ctrl_c_ends_a_waiting_consumer_quietly(tmp_path):
    rc, err = _signal(_start(CONSUMER, tmp_path, _env(tmp_path)), signal.SIGINT)
    assert "Exception ignored" not in err and "Traceback" not in err, err
    assert rc == 0


@pytest.fixture
def redis_settings(tmp_path):
    pytest.importorskip("flowcept_redis", reason="the redis plugin is not installed")
    pytest.importorskip("flowcept_lmdb", reason="the lmdb plugin is not installed")
    from tests.services import OwnRedis

    redis = OwnRedis(tmp_path / "redis", persist=False)
    why = redis.start()
    if why is not None:
        pytest.skip(f"Redis could not start: {why}")
    path = tmp_path / "settings.yaml"
    path.write_text(f"project:\n  db_flush_mode: online\n  dump_buffer: {{enabled: false}}\ntelemetry_capture: {{}}\n"
                    f"mq:\n  type: redis\n  host: 127.0.0.1\n  port: {redis.port}\n"
                    f"databases:\n  lmdb: {{enabled: true, path: {tmp_path / 'lmdb'}}}\n")
    yield str(path)
    redis.stop()


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 0), (signal.SIGTERM, 128 + signal.SIGTERM)])
def test_a_persistence_process_stops_quietly_and_stores_what_producers_sent(tmp_path, redis_settings, sig, status):
    env = _env(tmp_path, redis_settings)
    persistence = _start(PERSISTENCE, tmp_path, env)
    wf = str(uuid.uuid4())
    subprocess.run([sys.executable, "-c", PRODUCER, wf], cwd=tmp_path, env=env, check=True, timeout=60)
    rc, err = _signal(persistence, sig)
    assert "Exception ignored" not in err and "Traceback" not in err, err
    assert rc == status
    query = f"from flowcept import Flowcept; print(len(Flowcept.db.task_query({{'workflow_id': {wf!r}}})))"
    out = subprocess.run([sys.executable, "-c", query], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "5"


def test_sigterm_of_a_running_program_is_quiet_and_keeps_the_buffer_file(tmp_path):
    settings = tmp_path / "settings.yaml"
    settings.write_text("project:\n  db_flush_mode: offline\ntelemetry_capture: {}\n")
    rc, err = _signal(_start(BUSY, tmp_path, _env(tmp_path, str(settings))), signal.SIGTERM)
    assert "Exception ignored" not in err and "Traceback" not in err, err
    assert rc == 128 + signal.SIGTERM
    from flowcept import Flowcept

    msgs = Flowcept.read_buffer_file(str(tmp_path / "flowcept_buffer.jsonl"))
    (wf,) = [m for m in msgs if m["type"] == "workflow"]
    assert wf["status"] == "ERROR" and "SIGTERM" in wf["stderr"]
    assert any(m["type"] == "task" for m in msgs)


def test_the_documented_persistence_starter_on_defaults_keeps_consuming_until_ctrl_c(tmp_path):
    # the script ends right after start(): its DocumentInserter keeps the process alive, as documented, and it
    # stores what reaches it (here its own workflow record: the in-process MQ reaches nothing outside the process)
    script = PERSISTENCE.replace('print("started"', 'print(fc.current_workflow_id')
    env = _env(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    wf = proc.stdout.readline().strip()
    assert wf, proc.communicate(timeout=30)[1]
    time.sleep(1.5)
    assert proc.poll() is None, proc.communicate(timeout=30)[1]
    rc, err = _signal(proc, signal.SIGINT)
    assert "Exception ignored" not in err and "Traceback" not in err and "could not start" not in err, err
    assert rc == 0
    assert "producers in other processes cannot reach it" in err and "mq.type" in err
    query = "from flowcept import Flowcept; import sys; print(Flowcept.db.get_workflow_object(sys.argv[1]).name)"
    out = subprocess.run([sys.executable, "-c", query, wf], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "distributed_process_example", out.stderr


SERVICES = """
from flowcept import Flowcept

print("consuming", flush=True)
Flowcept.start_consumption_services()
print("returned", flush=True)
"""


def test_ctrl_c_ends_start_consumption_services_quietly_once_it_stored_what_it_received(tmp_path, redis_settings):
    env = _env(tmp_path, redis_settings)
    service = _start(SERVICES, tmp_path, env)
    wf = str(uuid.uuid4())
    subprocess.run([sys.executable, "-c", PRODUCER, wf], cwd=tmp_path, env=env, check=True, timeout=60)
    rc, err = _signal(service, signal.SIGINT)
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert rc == 0, err  # the call returned and the script ended
    query = f"from flowcept import Flowcept; print(len(Flowcept.db.task_query({{'workflow_id': {wf!r}}})))"
    out = subprocess.run([sys.executable, "-c", query], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "5"
