"""A Bolt server for tests and benchmarks: ArcadeDB with its Bolt plugin (PyPI ``arcadedb-embedded``), run as a
subprocess with its own root directory.

ArcadeDB speaks Bolt and openCypher and announces itself as Neo4j 5.26 compatible; it stands in for Neo4j where no
Neo4j server can be installed. Used by the plugin's tests and bench/bench_neo4j.py::

    with BoltTestServer(tmp_path) as server:
        settings = {"databases": {"neo4j": server.settings()}}

``python testserver.py ROOT BOLT_PORT HTTP_PORT PASSWORD`` runs the server in the foreground (the
subprocess this class starts); it prints READY when the database ``prov`` is open and stops on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

__all__ = ["BoltTestServer", "ServerStartError", "port_free", "free_port", "BOLT_PORT", "HTTP_PORT", "DATABASE", "USER"]

BOLT_PORT = 7688
HTTP_PORT = 2481
DATABASE = "prov"
USER = "root"
_START_TIMEOUT = 120.0


class ServerStartError(RuntimeError):
    """The test server could not be started (library missing, port taken, no READY in time)."""


def port_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BoltTestServer:
    """Starts ArcadeDB (Bolt on bolt_port) in a subprocess rooted at root; stop() ends it by its PID.

    Ports: 7688 (Bolt) and 2481 (HTTP) by convention, other free ones when those are taken.

    The data stays under root, so a stop() followed by start() is a server restart that keeps the database.
    """

    def __init__(self, root: str | os.PathLike, bolt_port: int | None = None, http_port: int | None = None,
                 password: str = "flowcept-test-pw"):
        self.root = Path(root)
        self.bolt_port = bolt_port or (BOLT_PORT if port_free(BOLT_PORT) else free_port())
        self.http_port = http_port or (HTTP_PORT if port_free(HTTP_PORT) else free_port())
        self.password = password
        self.proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.bolt_port}"

    def settings(self, **overrides: object) -> dict:
        """The databases.neo4j section that points at this server."""
        return {"enabled": True, "uri": self.uri, "user": USER, "password": self.password, "database": DATABASE,
                **overrides}

    def start(self, timeout: float = _START_TIMEOUT) -> None:
        """Start the server and wait until it prints READY and answers over Bolt; raises ServerStartError."""
        if self.proc is not None and self.proc.poll() is None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        log = open(self.root / "server.log", "ab")
        cmd = [sys.executable, str(Path(__file__).resolve()), str(self.root / "data"), str(self.bolt_port),
               str(self.http_port), self.password]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, cwd=self.root)
        log.close()
        ready = threading.Event()
        threading.Thread(target=self._read_stdout, args=(self.proc, ready), daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(f"ArcadeDB did not start on {self.uri} within {timeout:.0f}s; its log: "
                                       f"{self.root / 'server.log'}: {self._log_tail()}")
        self._wait_for_bolt(deadline)

    def _read_stdout(self, proc: subprocess.Popen, ready: threading.Event) -> None:
        for line in proc.stdout:  # drained to the end so the server never blocks on a full pipe
            if line.strip() == b"READY":
                ready.set()

    def _wait_for_bolt(self, deadline: float) -> None:
        from neo4j import GraphDatabase

        while True:
            try:
                with GraphDatabase.driver(self.uri, auth=(USER, self.password)) as driver:
                    driver.verify_connectivity()
                return
            except Exception as e:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise ServerStartError(f"ArcadeDB on {self.uri} does not answer over Bolt: {e}") from e
                time.sleep(0.2)

    def _log_tail(self) -> str:
        try:
            return (self.root / "server.log").read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the server by its PID (SIGTERM, then SIGKILL after timeout seconds); idempotent."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)

    def __enter__(self) -> BoltTestServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serve(root: str, bolt_port: int, http_port: int, password: str) -> None:
    import arcadedb_embedded as arcadedb

    server = arcadedb.create_server(root_path=root, root_password=password, config={
        "http_port": http_port, "host": "127.0.0.1", "bolt_port": bolt_port,
        "server_plugins": "Bolt:com.arcadedb.bolt.BoltProtocolPlugin"})
    try:
        server.start()
    except Exception as e:  # the embedded JVM keeps the interpreter alive unless the process ends here
        print(f"ArcadeDB failed to start: {e}", file=sys.stderr, flush=True)
        os._exit(1)
    try:
        server.create_database(DATABASE)
    except Exception:
        pass  # exists already: a restart on the same root
    print("READY", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):  # a timed wait, so the handler runs even while the JVM holds the signal mask
        pass
    server.stop()
    os._exit(0)  # the embedded JVM keeps non-daemon threads that would hold the interpreter at exit


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
