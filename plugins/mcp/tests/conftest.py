"""Fixtures for the mcp plugin's tests: fresh process state in a private directory, the built-in defaults (in-process
MQ, LMDB store), and a helper that runs an MCP client session against an in-process server (mcp 2.x ``Client``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from flowcept_core.runtime import reset_runtime
from flowcept_core.testing.defaults import builtin_defaults


@pytest.fixture(autouse=True)
def _fresh_state(tmp_path, monkeypatch):
    """Each test runs in tmp_path with the built-in defaults and fresh process state (settings, registry, stores,
    the in-process broker)."""
    monkeypatch.chdir(tmp_path)
    reset_runtime()
    with builtin_defaults(tmp_path, monkeypatch):
        yield
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
