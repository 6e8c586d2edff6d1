"""The server's guards and the live view's event stream; the ``flowcept ui`` command."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import urllib.request

import orjson
import pytest
from conftest import Client, lmdb_settings

from flowcept_core.query import DBAPI


def test_a_non_loopback_server_requires_its_generated_token(known_run, serve):
    server, _ = serve(lmdb_settings(known_run.lmdb_path), host="0.0.0.0")
    assert server.token and len(server.token) >= 24
    anonymous = Client(f"http://127.0.0.1:{server.port}")
    status, body = anonymous.get("/api/workflows")
    assert status == 401 and "token" in body["error"]["message"]
    assert anonymous.get("/")[0] == 401
    assert Client(f"http://127.0.0.1:{server.port}", "wrong-token").get("/api/workflows")[0] == 401
    assert Client(f"http://127.0.0.1:{server.port}", server.token).ok("/api/workflows")["total"] >= 1


def test_the_token_in_the_address_becomes_a_cookie(known_run, serve):
    server, _ = serve(lmdb_settings(known_run.lmdb_path), token="s3cret-token")
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with opener.open(f"http://127.0.0.1:{server.port}/?token=s3cret-token", timeout=60) as r:
        assert r.status == 200 and r.url.endswith("/") and "token" not in r.url
        assert b"/static/app.js" in r.read()
    with opener.open(f"http://127.0.0.1:{server.port}/api/workflows", timeout=60) as r:
        assert r.status == 200


def test_pages_and_assets_are_served_locally(known_run, serve):
    _, client = serve(lmdb_settings(known_run.lmdb_path))
    for path in ("/", f"/workflows/{known_run.workflow_id}", "/tasks/x", "/campaigns/c"):
        status, html = client.get(path)
        assert status == 200 and '<script src="/static/app.js"' in html
        assert "http://" not in html and "https://" not in html  # no CDN, no external font
    status, js = client.get("/static/app.js")
    assert status == 200 and "https://" not in js and "innerHTML" not in js
    assert client.get("/static/../server.py")[0] == 404


def _events(port: int, workflow_id: str, into: queue.Queue, stop: threading.Event) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/workflows/{workflow_id}/events", timeout=120) as r:
        assert r.headers["Content-Type"] == "text/event-stream"
        for line in r:
            if stop.is_set():
                return
            if line.startswith(b"data: "):
                into.put(orjson.loads(line[6:]))


def test_live_view_announces_a_task_stored_while_it_listens(tmp_path, serve):
    settings = lmdb_settings(str(tmp_path / "live_lmdb"))
    db = DBAPI(settings)
    db.insert_or_update_workflow({"workflow_id": "wf-live", "name": "live", "status": "RUNNING"})
    db.insert_or_update_task({"task_id": "t-1", "workflow_id": "wf-live", "activity_id": "a", "status": "FINISHED"})
    server, _ = serve(settings, poll_secs=0.05)
    got: queue.Queue = queue.Queue()
    stop = threading.Event()
    threading.Thread(target=_events, args=(server.port, "wf-live", got, stop), daemon=True).start()
    assert got.get(timeout=60) == {"task_count": 1, "status": "RUNNING", "ended_at": None, "changed": 0}
    db.insert_or_update_task({"task_id": "t-2", "workflow_id": "wf-live", "activity_id": "a", "status": "FINISHED"})
    assert got.get(timeout=60)["task_count"] == 2
    db.insert_or_update_workflow({"workflow_id": "wf-live", "status": "FINISHED", "ended_at": 5.0})
    assert got.get(timeout=60) == {"task_count": 2, "status": "FINISHED", "ended_at": 5.0, "changed": 0}
    stop.set()


def test_live_view_stops_polling_when_the_page_goes_away(tmp_path, serve, monkeypatch):
    import socket
    import time

    settings = lmdb_settings(str(tmp_path / "gone_lmdb"))
    DBAPI(settings).insert_or_update_workflow({"workflow_id": "wf-gone", "name": "gone", "status": "RUNNING"})
    server, _ = serve(settings, poll_secs=0.02)
    polls = []
    state = server.browser.state
    monkeypatch.setattr(server.browser, "state", lambda wid: polls.append(wid) or state(wid))
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GET /api/workflows/wf-gone/events HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(30)
        got = b""
        while b"event: state" not in got:
            chunk = sock.recv(4096)
            assert chunk, got
            got += chunk
        time.sleep(0.2)
        assert polls, "the stream polls the store while the page listens"
    time.sleep(0.3)  # the page closed: the stream notices within a poll or two
    after = len(polls)
    time.sleep(0.5)
    assert len(polls) == after


def test_flowcept_ui_help_comes_from_the_plugin():
    out = subprocess.run(
        [sys.executable, "-m", "flowcept_core.cli", "ui", "--help"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and "--store" in out.stdout and "--token" in out.stdout


def test_upstream_start_flags_run_flowcept_ui():
    from flowcept_core.cli_legacy import translate

    assert translate(["--start", "--webservice", "--ui", "--port", "5001"]) == ["ui", "--port", "5001"]


def test_flowcept_ui_without_the_plugin_names_the_plugin_to_install(tmp_path):
    env = {**os.environ, "FLOWCEPT_DISABLE_PLUGIN_AUTOLOAD": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "flowcept_core.cli", "ui"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert out.returncode == 2
    assert 'pip install "flowcept[ui]"' in out.stderr and "flowcept-ui" in out.stderr


def test_bad_store_option_is_a_usage_error(tmp_path):
    from flowcept_ui.cli import main

    assert main(["--store", str(tmp_path / "missing")]) == 2


@pytest.mark.parametrize(
    "host,loopback", [("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False), ("10.1.2.3", False)]
)
def test_only_loopback_hosts_go_without_a_token(host, loopback):
    from flowcept_ui.server import is_loopback

    assert is_loopback(host) is loopback


def test_recent_workflows_are_warmed_in_the_background_at_start(known_run, serve):
    import time

    server, _ = serve(lmdb_settings(known_run.lmdb_path), warm=1)
    deadline = time.monotonic() + 60
    while known_run.workflow_id not in server.browser._figures and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.browser._figures[known_run.workflow_id][0] == 8


def test_flowcept_ui_serves_until_interrupted(known_run, tmp_path):
    import re
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "flowcept_core.cli", "ui", "--store", known_run.lmdb_path, "--port", "0", "--warm", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    try:
        lines = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            found = re.search(r"serving on (http://127\.0\.0\.1:\d+/)", line)
            if found:
                break
        else:
            pytest.fail(f"no 'serving on' line: {lines}")
        assert any("read-only" in x for x in lines)
        with urllib.request.urlopen(found.group(1) + "api/workflows", timeout=60) as r:
            assert orjson.loads(r.read())["items"][0]["workflow_id"] == known_run.workflow_id
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_flowcept_ui_on_another_host_prints_the_token_it_requires(known_run, tmp_path):
    import signal
    import time

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flowcept_core.cli",
            "ui",
            "--store",
            known_run.lmdb_path,
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--warm",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    try:
        lines = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any("serving on" in x for x in lines):
            lines.append(proc.stdout.readline())
        text = "".join(lines)
        assert "is not loopback: every request needs the token" in text and "?token=" in text
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
