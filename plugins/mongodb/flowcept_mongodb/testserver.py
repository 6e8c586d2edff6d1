"""A private MongoDB-wire server for tests and benchmarks: NX-27017 (``pip install nx-27017``), started on a port of
loopback with its files in a folder, and stopped by its process id (its own process group), never by name.

    proc, uri = start_mongo_wire(Path("/tmp/nx"))      # (None, why) when it cannot start
    ...
    stop_server(proc)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["free_port", "port_taken", "server_answers", "start_mongo_wire", "stop_server"]

START_WAIT_SECS = 30


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_taken(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def server_answers(uri: str) -> str | None:
    """None when the server at uri answers hello, else why not."""
    import pymongo

    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=1000)
    try:
        client.admin.command("hello")
        return None
    except Exception as e:
        return f"{type(e).__name__}: {str(e)[:200]}"
    finally:
        client.close()


def start_mongo_wire(data_dir: Path, port: int | None = None) -> tuple[subprocess.Popen | None, str]:
    """Start NX-27017 on port (default: a free one) with its files in data_dir: (process, uri) once it answers
    hello, else (None, why it could not)."""
    exe = shutil.which("nx-27017") or str(Path(sys.executable).with_name("nx-27017"))
    if not Path(exe).exists():
        return None, "nx-27017 is not installed (pip install nx-27017)"
    try:
        import pymongo  # noqa: F401
    except ImportError:
        return None, "pymongo is not installed (pip install -e plugins/mongodb)"
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    cmd = [exe, "--data-dir", str(data_dir), "-p", str(port), "--log-file", str(data_dir / "nx.log"),
           "--pid-file", str(data_dir / "nx.pidfile")]
    with open(data_dir / "stdout.log", "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"mongodb://127.0.0.1:{port}/"
    deadline = time.monotonic() + START_WAIT_SECS
    while (why := server_answers(uri)) is not None:
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(proc)
            tail = (data_dir / "stdout.log").read_text(errors="replace")[-600:]
            return None, f"started {' '.join(cmd)} (pid {proc.pid}) but it did not answer: {why}; output: {tail}"
        time.sleep(0.2)
    return proc, uri


def stop_server(proc: subprocess.Popen) -> None:
    """Stop a server start_mongo_wire started: its own process group, by id (SIGTERM, then SIGKILL)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
