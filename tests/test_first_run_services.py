"""What a new user sees when a service or plugin is missing: Flowcept.db says why it cannot answer (offline mode, a
store plugin not installed), services_alive() says which service is down and why, and a listener on the in-process
MQ that other processes were meant to feed says they cannot."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import warnings

import pytest

from flowcept import BaseConsumer, Flowcept
from flowcept_core.runtime import RUNTIME
from flowcept_core.settings import SettingsWarning
from flowcept_core.stores import NoDatabaseError, close_stores
from tests._util import use_settings

ONLINE = {"project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}}, "telemetry_capture": {},
          "log": {"log_stream_level": "error", "log_file_level": "disable"}}


@pytest.fixture(autouse=True)
def _stores():
    close_stores()
    yield
    close_stores()


def test_offline_queries_say_offline_runs_store_nothing_and_how_to_read_the_buffer(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch)  # offline, LMDB on by default
    with Flowcept():
        pass
    with pytest.raises(NoDatabaseError) as exc:
        Flowcept.db.task_query({})
    text = str(exc.value)
    assert "offline" in text and "Flowcept.read_buffer_file('flowcept_buffer.jsonl')" in text


def test_a_default_store_without_its_plugin_is_named_with_the_install_command(tmp_path, monkeypatch):
    pytest.importorskip("flowcept_lmdb", reason="the lmdb plugin is not installed")
    use_settings(tmp_path, monkeypatch, {"plugins": {"disabled": ["lmdb"]}}, base=ONLINE)  # as if not installed
    RUNTIME.warned.clear()  # warnings are issued once per process
    with pytest.warns(SettingsWarning, match="databases.lmdb is on by default but its plugin is not installed"):
        with Flowcept():
            pass
    with pytest.raises(NoDatabaseError) as exc:
        Flowcept.db.task_query({})
    text = str(exc.value)
    assert "databases.lmdb.enabled is true but the lmdb store plugin is not installed" in text
    assert "pip install" in text and "lmdb" in text.rsplit("pip install", 1)[1]


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_services_alive_logs_which_service_is_down_and_why(tmp_path, monkeypatch, caplog):
    pytest.importorskip("flowcept_redis", reason="the redis plugin is not installed")
    port = _closed_port()
    use_settings(tmp_path, monkeypatch, {"mq": {"type": "redis", "host": "127.0.0.1", "port": port},
                                         "databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "db")}}},
                 base=ONLINE)
    with caplog.at_level(logging.INFO, logger="flowcept"):
        assert Flowcept.services_alive() is False
    down = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(down) == 1 and down[0].startswith("service mq:redis: ") and str(port) in down[0], down
    status = Flowcept.services_status()
    assert status["mq:redis"][0] is False and str(port) in status["mq:redis"][1]
    if "store:lmdb" in status:
        assert status["store:lmdb"] == (True, "alive")


def test_a_persistence_only_process_on_the_in_process_mq_warns_that_nothing_can_reach_it(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch, {"databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "db")}}},
                 base=ONLINE)
    RUNTIME.warned.clear()
    fc = Flowcept(workflow_name="distributed_process_example", start_persistence=True, check_safe_stops=False)
    with pytest.warns(SettingsWarning, match=r"in-process MQ \(mq.type: memory\).*set mq.type"):
        fc.start()
    fc.stop()


class _Printer(BaseConsumer):
    def message_handler(self, msg_obj: dict) -> bool:
        return True


def test_a_consumer_alone_on_the_in_process_mq_warns_and_one_beside_a_run_does_not(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch, base=ONLINE)
    RUNTIME.warned.clear()
    with pytest.warns(SettingsWarning, match="consumer _Printer listens on the in-process MQ"):
        consumer = _Printer().start(daemon=True)
    consumer.stop_consumption()
    RUNTIME.warned.clear()
    with Flowcept(), warnings.catch_warnings():
        warnings.simplefilter("error", SettingsWarning)
        consumer = _Printer().start(daemon=True)
        consumer.stop_consumption()


def test_the_documented_persistence_starter_on_defaults_prints_the_warning(tmp_path):
    script = ("from flowcept import Flowcept\n"
              "fc = Flowcept(workflow_name='distributed_process_example', start_persistence=True, "
              "check_safe_stops=False)\n"
              "fc.start()\nfc.stop()\n")
    env = {k: v for k, v in os.environ.items() if k != "FLOWCEPT_SETTINGS_PATH"}
    env["HOME"] = str(tmp_path)  # no ~/.flowcept/settings.yaml: the built-in defaults
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "producers in other processes cannot reach it" in proc.stderr and "mq.type" in proc.stderr
