"""Fixtures for the mcp plugin's tests: fresh process state in a private directory, the built-in defaults (in-process
MQ, LMDB store), and a helper that runs an MCP client session against an in-process server (mcp 2.x ``Client``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from flowcept_core.registry import reset_registry
from flowcept_core.runtime import reset_runtime
from flowcept_core.settings import get_settings, reset_settings
from flowcept_core.stores import close_stores


@pytest.fixture(autouse=True)
def _fresh_state(tmp_path, monkeypatch):
    """Each test runs in tmp_path with the built-in defaults and fresh process state (settings, registry, stores,
    the in-process broker)."""
    pytest.importorskip("flowcept_lmdb", reason="the lmdb plugin (the default store) is not installed")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLOWCEPT_SETTINGS_PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.flowcept/settings.yaml
    for name in ("MQ_TYPE", "MQ_INSERTION_BUFFER_TIME", "DB_FLUSH_MODE", "LMDB_ENABLED", "LMDB_PATH"):
        monkeypatch.delenv(name, raising=False)
    reset_runtime()
    close_stores()
    reset_settings()
    reset_registry()
    assert get_settings().source is None
    yield
    close_stores()
    reset_runtime()


@pytest.fixture
def mcp_server_class() -> type:
    """The MCP server class of the installed mcp: MCPServer (2.x); the test skips on an mcp without it."""
    mcpserver = pytest.importorskip("mcp.server.mcpserver", reason="this mcp has no mcp.server.mcpserver (mcp<2)")
    return mcpserver.MCPServer


@pytest.fixture
def with_client() -> Callable[[Any, Callable[[Any], Awaitable[Any]]], Any]:
    """with_client(server, body): run ``await body(client)`` inside a real in-process client session; its result."""
    from mcp import Client

    def run(server: Any, body: Callable[[Any], Awaitable[Any]]) -> Any:
        async def main() -> Any:
            async with Client(server) as client:
                return await body(client)

        return asyncio.run(main())

    return run
