"""Fixtures of the provenance browser's tests: a known run captured once (tests/known_run.py, in a subprocess with
the default LMDB store), the same documents imported into a MongoDB-wire server (NX-27017, started here), and a
UIServer over either store."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from flowcept_core.registry import reset_registry
from flowcept_core.settings import load_settings, reset_settings
from flowcept_core.stores import close_stores

HERE = Path(__file__).parent


@dataclass(frozen=True)
class KnownRun:
    """Where the known run lies: its LMDB directory, its buffer file, its workflow id."""

    lmdb_path: str
    buffer_file: str
    workflow_id: str


@pytest.fixture(scope="session")
def known_run(tmp_path_factory: pytest.TempPathFactory) -> KnownRun:
    where = tmp_path_factory.mktemp("known_run")
    env = {**os.environ, "FLOWCEPT_SETTINGS_PATH": str(where / "none.yaml")}
    out = subprocess.run(
        [sys.executable, str(HERE / "known_run.py")], cwd=where, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    workflow_id = out.stdout.strip().splitlines()[-1]
    return KnownRun(str(where / "flowcept_lmdb"), str(where / "flowcept_buffer.jsonl"), workflow_id)


def lmdb_settings(path: str):
    return load_settings(
        overrides={"databases.lmdb.enabled": True, "databases.lmdb.path": path, "databases.mongodb.enabled": False}
    )


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A MongoDB-wire server for the session (NX-27017), or FLOWCEPT_TEST_MONGODB_URI; skips when none starts."""
    pytest.importorskip("pymongo", reason="pymongo is not installed: pip install -e plugins/mongodb")
    testserver = pytest.importorskip(
        "flowcept_mongodb.testserver", reason="the mongodb plugin is not installed: pip install -e plugins/mongodb"
    )
    existing = os.environ.get("FLOWCEPT_TEST_MONGODB_URI")
    if existing:
        yield existing
        return
    proc, uri = testserver.start_mongo_wire(tmp_path_factory.mktemp("nx27017"), testserver.free_port())
    if proc is None:
        pytest.skip(uri)
    try:
        yield uri
    finally:
        testserver.stop_server(proc)


@pytest.fixture(scope="session")
def mongo_known_run(mongo_uri: str, known_run: KnownRun):
    """Settings reading a fresh MongoDB database holding the known run's documents exactly as LMDB holds them."""
    from flowcept_core.query import DBAPI, open_store

    settings = load_settings(
        overrides={
            "databases.mongodb.enabled": True,
            "databases.mongodb.uri": mongo_uri,
            "databases.mongodb.db": f"ui_test_{os.getpid()}",
            "databases.lmdb.enabled": False,
        }
    )
    source = DBAPI(lmdb_settings(known_run.lmdb_path))
    target = open_store(settings, "mongodb")
    for collection in ("workflows", "tasks"):
        docs = source.query({}, collection=collection)
        assert docs
        target.upsert(collection, docs)
    return settings


@pytest.fixture(autouse=True)
def _fresh_state():
    reset_settings()
    reset_registry()
    yield
    reset_settings()
    reset_registry()


@pytest.fixture(scope="session", autouse=True)
def _close_stores_at_end():
    yield
    close_stores()


class Client:
    """GET requests to a running UIServer; answers (status, decoded JSON or text)."""

    def __init__(self, base: str, token: str | None = None):
        self.base = base.rstrip("/")
        self.token = token

    def get(self, path: str, headers: dict | None = None, method: str = "GET") -> tuple[int, object]:
        req = urllib.request.Request(self.base + path, method=method, headers=headers or {})
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, body, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            status, body, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
        return status, orjson.loads(body) if "json" in ctype else body.decode()

    def ok(self, path: str) -> object:
        status, body = self.get(path)
        assert status == 200, (path, status, body)
        return body


@pytest.fixture
def serve():
    """serve(settings, **UIServer options) -> (server, Client); servers are stopped after the test."""
    from flowcept_ui.server import UIServer

    servers = []

    def start(settings, **options):
        server = UIServer(settings, port=0, **options).start()
        servers.append(server)
        return server, Client(f"http://127.0.0.1:{server.port}", None)

    yield start
    for server in servers:
        server.stop()
