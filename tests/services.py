"""Starting the local servers tests need (as ../shared/services.md describes), stopped by PID by the caller."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_mongo_wire(data_dir: Path) -> tuple[subprocess.Popen | None, str]:
    """Start the MongoDB-wire server (NX-27017) on a free port: (process, uri) or (None, why it could not)."""
    exe = shutil.which("nx-27017") or str(Path(sys.executable).with_name("nx-27017"))
    if not Path(exe).exists():
        return None, "nx-27017 is not installed (pip install nx-27017)"
    try:
        import pymongo
    except ImportError:
        return None, "pymongo is not installed"
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = subprocess.Popen([exe, "--data-dir", str(data_dir), "-p", str(port), "--log-file", str(data_dir / "nx.log"),
                             "--pid-file", str(data_dir / "nx.pid")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    uri = f"mongodb://127.0.0.1:{port}/"
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            return None, f"nx-27017 exited with {proc.returncode}"
        try:
            pymongo.MongoClient(uri, serverSelectionTimeoutMS=500).admin.command("hello")
            return proc, uri
        except Exception:
            time.sleep(0.2)
    proc.kill()
    return None, "nx-27017 did not answer within 30 s"
