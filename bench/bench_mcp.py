#!/usr/bin/env python3
"""Added time per MCP tool call from @agent_flowcept_task, through a real in-process client session.

    .venv/bin/python bench/bench_mcp.py [--calls 100] [--rounds 30] [--llm]

For each configuration, one MCPServer (mcp 2.x) with two identical tools, ``plain`` and ``traced`` (``traced`` under
``@agent_flowcept_task``), while a BaseAgentContextManager runs the agent's workflow (its lifespan). Each round calls
``plain`` --calls times and ``traced`` --calls times through ``Client.call_tool``, alternating which goes first
(short rounds, so that a change of the machine's load hits both sides alike); a round's figure is
(traced - plain) / calls, in wall time and in process CPU time (all threads). Printed: medians over the rounds.

Configurations: sync tools (the server runs them on a worker thread) and async tools; the default run (in-process MQ,
tasks stored in LMDB by this process), the same with ``mq.buffer_size: 1000`` (fewer, larger drains, each one write
transaction of the store), and ``start_persistence=False`` (capture and publication only, storage done elsewhere).
The wrapper alone (the decorated function called directly, no MCP) is printed for comparison, and with --llm,
FlowceptLLM.invoke around a local stand-in model. Target: added time per tool call <= 50 us.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time


def _server(is_async: bool, lifespan, agent_flowcept_task):
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("bench", lifespan=lifespan)
    if is_async:
        async def plain(x: int, y: int) -> int:
            return x + y

        async def traced(x: int, y: int) -> int:
            return x + y
    else:
        def plain(x: int, y: int) -> int:
            return x + y

        def traced(x: int, y: int) -> int:
            return x + y
    server.tool()(plain)
    traced = agent_flowcept_task(traced)
    server.tool()(traced)
    return server, plain, traced


async def _rounds(client, calls: int, rounds: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"plain": [], "traced": [], "plain_cpu": [], "traced_cpu": []}
    for _ in range(20):  # warm-up
        await client.call_tool("plain", {"x": 1, "y": 2})
        await client.call_tool("traced", {"x": 1, "y": 2})
    for r in range(rounds):
        for name in (("plain", "traced") if r % 2 == 0 else ("traced", "plain")):
            c0, t0 = time.process_time(), time.perf_counter()
            for i in range(calls):
                await client.call_tool(name, {"x": i, "y": 2})
            out[name].append((time.perf_counter() - t0) / calls)
            out[name + "_cpu"].append((time.process_time() - c0) / calls)
    return out


def _measure(is_async: bool, persist: bool, calls: int, rounds: int, buffer_size: int | None) -> dict[str, float]:
    from mcp import Client

    from flowcept.flowceptor.consumers.agent.base_agent_context_manager import BaseAgentContextManager
    from flowcept.instrumentation.flowcept_agent_task import agent_flowcept_task

    settings = None
    if buffer_size is not None:
        from flowcept_core.settings import load_settings

        settings = load_settings(overrides={"mq.buffer_size": buffer_size})
    agent = BaseAgentContextManager(agent_name="bench_agent", max_tasks=1000, start_persistence=persist,
                                    settings=settings)
    server, _, _ = _server(is_async, agent.lifespan, agent_flowcept_task)

    async def session():
        async with Client(server) as client:
            return await _rounds(client, calls, rounds)

    r = asyncio.run(session())
    med = statistics.median
    return {"plain": med(r["plain"]), "traced": med(r["traced"]),
            "added": med([t - p for p, t in zip(r["plain"], r["traced"], strict=True)]),
            "added_cpu": med([t - p for p, t in zip(r["plain_cpu"], r["traced_cpu"], strict=True)])}


def _direct(n: int) -> float:
    from flowcept import Flowcept
    from flowcept.instrumentation.flowcept_agent_task import agent_flowcept_task

    def plain(x: int, y: int) -> int:
        return x + y

    traced = agent_flowcept_task(plain)
    out = []
    with Flowcept(workflow_name="bench_direct"):
        for _ in range(5):
            t0 = time.perf_counter()
            for i in range(n):
                plain(i, 2)
            base = time.perf_counter() - t0
            t0 = time.perf_counter()
            for i in range(n):
                traced(i, 2)
            out.append((time.perf_counter() - t0 - base) / n)
    return statistics.median(out)


def _llm(n: int) -> float:
    from flowcept import Flowcept
    from flowcept.instrumentation.flowcept_agent_task import FlowceptLLM

    class Model:
        model_name = "bench"

        def invoke(self, messages):
            return {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 1}}

    model = Model()
    wrapped = FlowceptLLM(model)
    msgs = [("user", "hi")]
    out = []
    with Flowcept(workflow_name="bench_llm"):
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(n):
                model.invoke(msgs)
            base = time.perf_counter() - t0
            t0 = time.perf_counter()
            for _ in range(n):
                wrapped.invoke(msgs)
            out.append((time.perf_counter() - t0 - base) / n)
    return statistics.median(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=100, help="tool calls per tool per round")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--llm", action="store_true", help="also time FlowceptLLM.invoke around a local model")
    args = ap.parse_args()
    os.chdir(tempfile.mkdtemp(prefix="bench-mcp-"))  # the runs' files stay out of the repository
    try:
        import mcp.server.mcpserver  # noqa: F401
        from mcp import Client  # noqa: F401
    except ImportError as e:
        print(f"bench_mcp needs mcp 2.x (MCPServer, Client): {e}", file=sys.stderr)
        return 2
    from importlib.metadata import version

    us = 1e6
    print(f"mcp {version('mcp')}, python {sys.version.split()[0]}, {args.rounds} rounds x {args.calls} calls per "
          f"tool; load average {os.getloadavg()[0]:.2f}")
    print(f"{'tools':<6} {'run':<28} {'plain us':>9} {'traced us':>10} {'added us':>9} {'added CPU us':>13}")
    runs = ((True, None, "default (LMDB in-process)"), (True, 1000, "mq.buffer_size: 1000"),
            (False, None, "start_persistence=False"))
    for is_async in (False, True):
        for persist, buffer_size, run in runs:
            m = _measure(is_async, persist, args.calls, args.rounds, buffer_size)
            print(f"{'async' if is_async else 'sync':<6} {run:<28} {m['plain'] * us:9.1f} {m['traced'] * us:10.1f} "
                  f"{m['added'] * us:9.1f} {m['added_cpu'] * us:13.1f}")
    print(f"wrapper alone (decorated function called directly): {_direct(50_000) * us:.2f} us added per call")
    if args.llm:
        print(f"FlowceptLLM.invoke around a local model: {_llm(20_000) * us:.2f} us added per call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
