"""The flat capture records' named layouts: every capture path writes its fields in its kind's order, packed batches
read them by name, and consumers rebuild templates and the run context from the registry alone."""

from __future__ import annotations

import ast
import asyncio
import inspect
from pathlib import Path

import pytest

from flowcept import Flowcept, FlowceptLightweightLoop, FlowceptLoop, flowcept_task, lightweight_flowcept_task
from flowcept_core.capture.context import STATE
from flowcept_core.capture.record import (
    ITERATION,
    LAYOUTS,
    LIGHT,
    TASK,
    RecordContext,
    RecordLayout,
    context_header,
    register_kind,
    template_class,
    template_from_state,
)
from flowcept_core.packed import expand
from tests._util import use_settings


@flowcept_task
def plain(x, y=2):
    return x + y


@flowcept_task
def generic(*args, **kwargs):
    return len(args)


@flowcept_task(args_handler=lambda *a, **k: {"n": len(a)})
def handled(x):
    return x


@flowcept_task
async def coro(x):
    return x * 3


@flowcept_task
def fails(x):
    raise KeyError("bad")


@lightweight_flowcept_task
def light(x):
    return -x


@lightweight_flowcept_task
async def light_coro(x):
    return x


def _records(raw: list) -> list[tuple]:
    out, i = [], 0
    while i < len(raw):
        item = raw[i]
        if type(item) is dict:
            i += 1
            continue
        layout = LAYOUTS[item.record_kind]
        assert item.width == layout.width
        out.append((layout, raw[i : i + layout.width]))
        i += layout.width
    return out


def _field(layout: RecordLayout, rec: list, name: str):
    return rec[layout.index(name)]


def test_every_capture_path_writes_its_kinds_fields_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    use_settings(tmp_path, monkeypatch)
    with Flowcept(workflow_name="layouts") as fc:
        fc._wait_started()
        run = STATE.run
        run._stop.set()  # this test reads the buffer by hand
        run._thread.join()
        plain(1)
        generic(4, 5, k=1)
        handled(7)
        asyncio.run(coro(2))
        with pytest.raises(KeyError):
            fails(0)
        light(3)
        asyncio.run(light_coro(8))
        for _ in FlowceptLoop(["a", "b"], loop_name="L", item_name="letter"):
            pass
        lw = FlowceptLightweightLoop([10, 20, 30], loop_name="W")
        for v in lw:
            lw.end_iter({"v": v})
        records = _records(list(run.items))
    by = {}
    for layout, rec in records:
        tmpl = rec[0]
        name = tmpl.activity_id if layout is not ITERATION else f"{tmpl.loop._iter_activity}{_field(layout, rec, 'i')}"
        by[name] = (layout, rec)
    layout, rec = by["plain"]
    assert layout is TASK
    assert _field(layout, rec, "args") == (1, 2) and _field(layout, rec, "kwargs") is None
    assert _field(layout, rec, "result") == 3 and _field(layout, rec, "error") is None
    assert isinstance(_field(layout, rec, "task_id"), int)
    assert _field(layout, rec, "started_at") <= _field(layout, rec, "ended_at")
    layout, rec = by["generic"]
    assert _field(layout, rec, "args") == (4, 5) and _field(layout, rec, "kwargs") == {"k": 1}
    assert _field(layout, rec, "result") == 2
    layout, rec = by["handled"]
    assert _field(layout, rec, "args") == {"n": 1} and _field(layout, rec, "result") == {"n": 1}
    layout, rec = by["coro"]
    # one parameter: its value as it is, not in a 1-tuple (TaskTemplate.bare); two: a tuple (plain, above)
    assert layout is TASK and _field(layout, rec, "args") == 2 and _field(layout, rec, "result") == 6
    assert rec[0].bare and not by["plain"][1][0].bare and not by["generic"][1][0].bare
    layout, rec = by["fails"]
    assert _field(layout, rec, "result") is None and "bad" in _field(layout, rec, "error")
    layout, rec = by["light"]
    assert layout is LIGHT and _field(layout, rec, "args") == 3 and _field(layout, rec, "result") == -3
    assert isinstance(_field(layout, rec, "ended_at"), float)
    layout, rec = by["light_coro"]
    assert layout is LIGHT and _field(layout, rec, "args") == 8 and _field(layout, rec, "result") == 8
    layout, rec = by["L_iteration1"]
    assert layout is ITERATION and _field(layout, rec, "item") == "b"
    assert _field(layout, rec, "started_at") <= _field(layout, rec, "ended_at")
    layout, rec = by["W_iteration2"]
    assert _field(layout, rec, "item") == 30 and _field(layout, rec, "generated") == {"v": 30}
    assert _field(layout, rec, "started_at") is None


def test_layout_errors_name_the_value_and_what_is_allowed():
    with pytest.raises(KeyError, match="'nope'.*fields"):
        TASK.index("nope")
    with pytest.raises(ValueError, match=r"missing fields \['error'\].*unknown fields \['oops'\]"):
        LIGHT.source(template="t", parent="p", ended_at="e", args="a", kwargs="k", result="r", oops="o")
    with pytest.raises(ValueError, match="'task' is already registered"):
        register_kind(RecordLayout("task", ("template",), (), "x:Y"))
    with pytest.raises(ValueError, match="first field must be 'template'"):
        RecordLayout("odd", ("a", "template"), (), "x:Y")
    with pytest.raises(ValueError, match=r"unknown record kind 'mystery'; known: \['iteration', 'light', 'task'\]"):
        template_class("mystery")
    packed = {"type": "flowcept_packed", "v": 1, "run": {}, "templates": {"0": {"kind": "mystery"}}, "records": []}
    with pytest.raises(ValueError, match="mystery"):
        expand(packed)


def test_value_slots_are_the_user_values():
    assert [TASK.fields[i] for i in TASK.value_slots] == ["args", "kwargs", "result", "error"]
    assert [LIGHT.fields[i] for i in LIGHT.value_slots] == ["args", "kwargs", "result", "error"]
    assert [ITERATION.fields[i] for i in ITERATION.value_slots] == ["item", "generated"]


def test_templates_come_back_from_their_state_by_kind():
    from flowcept_core.capture.templates import TaskTemplate

    def f(x, y=2):
        return x

    t = TaskTemplate(f, output_names="out")
    state = t.state(lambda v: v)
    state["kind"] = t.record_kind
    back = template_from_state(state)
    assert type(back) is TaskTemplate and back.names == ("x", "y") and back.output_names == "out"
    assert back.width == TASK.width


def test_consumer_context_reads_what_the_producer_wrote(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    use_settings(tmp_path, monkeypatch)
    with Flowcept(workflow_name="ctx", campaign_id="camp") as fc:
        fc._wait_started()
        run = STATE.run
        ctx = RecordContext(context_header(run))
        assert (ctx.workflow_id, ctx.campaign_id, ctx.enrich) == (run.workflow_id, "camp", run.enrich)
        assert ctx.host_fields == run.host_fields
        assert ctx.format_id(12345) == run.format_id(12345)
        assert ctx.limits.max_bytes == run.limits.max_bytes and ctx.limits.redact is None
        assert ctx.sanitize(float("nan")) == run.sanitize(float("nan"))


def test_packed_reads_no_capture_module_but_the_record_layouts():
    path = Path(__file__).resolve().parents[1] / "flowcept_core" / "packed.py"
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    capture = {n for n in names if n.startswith("flowcept_core.capture")}
    assert capture == {"flowcept_core.capture.record"}
    assert "_RunView" not in path.read_text()


def test_every_wrapper_comes_from_the_generated_template():
    from flowcept import telemetry_flowcept_task

    @telemetry_flowcept_task
    def timed(x):
        return x

    @flowcept_task(args_handler=lambda *a, **k: {"k": sorted(k)})
    async def handled_coro(x, y=1):
        return x

    wrappers = [plain, generic, handled, coro, fails, light, light_coro, timed, handled_coro]
    for w in wrappers:
        assert w.__code__.co_filename.startswith("<flowcept wrapper of"), w.__name__
    assert inspect.iscoroutinefunction(coro) and inspect.iscoroutinefunction(light_coro)
    assert inspect.iscoroutinefunction(handled_coro) and not inspect.iscoroutinefunction(handled)
    # plain parameters are kept for async functions too: a wrong call fails as the function itself would
    with pytest.raises(TypeError, match="coro"):
        coro(1, 2)


def test_handler_and_telemetry_records(tmp_path, monkeypatch):
    from flowcept import telemetry_flowcept_task

    @telemetry_flowcept_task
    def timed(x):
        return x + 1

    @flowcept_task(args_handler=lambda *a, **k: {"pos": len(a), "kw": sorted(k)})
    async def handled_coro(x, y=1):
        return {"out": x}

    @flowcept_task(args_handler=lambda *a, **k: 1 / 0)
    def broken(x):
        return x

    monkeypatch.chdir(tmp_path)
    use_settings(tmp_path, monkeypatch)
    with Flowcept(workflow_name="custom") as fc:
        fc._wait_started()
        run = STATE.run
        run._stop.set()
        run._thread.join()
        assert timed(1) == 2
        assert asyncio.run(handled_coro(5, y=2)) == {"out": 5}
        assert broken(3) == 3  # a failing handler never reaches the caller
        by = {rec[0].activity_id: (layout, rec) for layout, rec in _records(list(run.items))}
    layout, rec = by["timed"]
    assert _field(layout, rec, "args") == (1,) and _field(layout, rec, "result") == 2
    start, end = _field(layout, rec, "telemetry_at_start"), _field(layout, rec, "telemetry_at_end")
    assert type(start) is tuple and type(end) is tuple and len(start) == len(end) == 3
    layout, rec = by["handled_coro"]
    assert _field(layout, rec, "args") == {"pos": 1, "kw": ["y"]}  # called as the function was: y by keyword
    assert _field(layout, rec, "result") == {"pos": 0, "kw": ["out"]}
    layout, rec = by["broken"]
    assert "ZeroDivisionError" in _field(layout, rec, "args")["args_handler_error"]
