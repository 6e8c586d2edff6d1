"""Servers the core tests start (as ../shared/services.md describes), stopped by process id by the caller.

The MongoDB-wire server comes from the mongodb plugin (flowcept_mongodb.testserver); without the plugin the tests
that need it are skipped with the reason.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


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
