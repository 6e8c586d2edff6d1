"""@flowcept_task, @lightweight_flowcept_task, @telemetry_flowcept_task: what a call records."""

from __future__ import annotations

import argparse
import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from flowcept import Flowcept, flowcept_task, lightweight_flowcept_task, telemetry_flowcept_task
from tests._util import tasks, use_settings


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    use_settings(tmp_path, monkeypatch)


def run_and_get(fn, *args, **kwargs):
    with Flowcept(workflow_name="t") as fc:
        try:
            fn(*args, **kwargs)
        except Exception:
            pass
        return fc.get_buffer(), fc


def test_seeds_example_records_used_and_named_output():
    @flowcept_task(output_names="y")
    def mult_two(x: int) -> int:
        return 2 * x

    with Flowcept(workflow_name="demo") as fc:
        assert mult_two(21) == 42
    (t,) = tasks(fc.get_buffer())
    assert t["used"] == {"x": 21}
    assert t["generated"] == {"y": 42}
    assert t["status"] == "FINISHED"
    assert t["activity_id"] == "mult_two"
    assert t["workflow_id"] == fc.current_workflow_id
    assert t["campaign_id"] == fc.campaign_id
    assert t["started_at"] <= t["ended_at"]
    assert t["task_id"] and t["hostname"]


def test_output_without_names_is_arg_0():
    @flowcept_task
    def mult_two(x):
        return 2 * x

    msgs, _ = run_and_get(mult_two, 21)
    assert tasks(msgs)[0]["generated"] == {"arg_0": 42}


def test_tuple_output_maps_to_names_and_dict_output_passes_through():
    @flowcept_task(output_names=["y", "z"], tags=["math", "demo"], custom_metadata={"owner": "devX"})
    def compute(x):
        return x * 2, x * 3

    @flowcept_task
    def as_dict(x):
        return {"a": x, "b": [x]}

    with Flowcept() as fc:
        compute(5)
        as_dict(1)
    t1, t2 = tasks(fc.get_buffer())
    assert t1["generated"] == {"y": 10, "z": 15}
    assert t1["tags"] == ["math", "demo"] and t1["custom_metadata"] == {"owner": "devX"}
    assert t2["generated"] == {"a": 1, "b": [1]}


def test_defaults_and_kwargs_are_recorded_under_parameter_names():
    @flowcept_task
    def f(a, b=2, *rest, c=3, **extra):
        return None

    with Flowcept() as fc:
        f(1, 5, 6, 7, c=9, d=10)
    (t,) = tasks(fc.get_buffer())
    assert t["used"] == {"a": 1, "b": 5, "arg_2": 6, "arg_3": 7, "c": 9, "d": 10}
    assert "generated" not in t


def test_argparse_namespace_is_flattened_into_used():
    @flowcept_task
    def train(args):
        return 0.5

    msgs, _ = run_and_get(train, argparse.Namespace(lr=0.1, epochs=3))
    assert tasks(msgs)[0]["used"] == {"lr": 0.1, "epochs": 3}


def test_error_inside_task_is_recorded_and_reraised():
    @flowcept_task
    def boom(x):
        raise ValueError(f"bad x={x}")

    with Flowcept() as fc:
        with pytest.raises(ValueError, match="bad x=3"):
            boom(3)
    (t,) = tasks(fc.get_buffer())
    assert t["status"] == "ERROR"
    assert "ValueError: bad x=3" in t["stderr"]
    assert "generated" not in t


def test_call_without_active_flowcept_just_runs():
    @flowcept_task
    def f(x):
        return x + 1

    @lightweight_flowcept_task
    def g(x):
        return x + 2

    assert f(1) == 2 and g(1) == 3


def test_instrumentation_disabled_captures_nothing(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch, {"instrumentation": {"enabled": False}})

    @flowcept_task
    def f(x):
        return x

    with Flowcept() as fc:
        assert f(3) == 3
    assert tasks(fc.get_buffer()) == []


def test_nested_calls_get_parent_task_id():
    @flowcept_task
    def inner(x):
        return x

    @flowcept_task
    def outer(x):
        return inner(x) + inner(x + 1)

    with Flowcept() as fc:
        outer(1)
        inner(5)
    msgs = fc.get_buffer()
    (o,) = tasks(msgs, "outer")
    inners = tasks(msgs, "inner")
    assert [t.get("parent_task_id") for t in inners] == [o["task_id"], o["task_id"], None]
    assert "parent_task_id" not in o


def test_parent_follows_threads_pools_and_asyncio_tasks():
    @flowcept_task
    def child(tag):
        return tag

    @flowcept_task
    async def achild(tag):
        await asyncio.sleep(0)
        return tag

    @flowcept_task
    def parent():
        t = threading.Thread(target=child, args=("thread",))
        t.start()
        t.join()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(child, ["pool1", "pool2"]))

    @flowcept_task
    async def aparent():
        await asyncio.gather(achild("a1"), asyncio.create_task(achild("a2")))

    with Flowcept() as fc:
        parent()
        asyncio.run(aparent())
        child("outside")
    msgs = fc.get_buffer()
    (p,) = tasks(msgs, "parent")
    (ap,) = tasks(msgs, "aparent")
    by_tag = {t["used"]["tag"]: t for t in tasks(msgs, "child") + tasks(msgs, "achild")}
    for tag in ("thread", "pool1", "pool2"):
        assert by_tag[tag]["parent_task_id"] == p["task_id"], tag
    for tag in ("a1", "a2"):
        assert by_tag[tag]["parent_task_id"] == ap["task_id"], tag
    assert by_tag["a1"]["generated"] == {"arg_0": "a1"}
    assert "parent_task_id" not in by_tag["outside"]


def test_workflow_and_campaign_ids_passed_to_the_call_override_the_run():
    @flowcept_task
    def tool(x, workflow_id=None, campaign_id=None):
        return x

    with Flowcept() as fc:
        tool(1, workflow_id="wf-other", campaign_id="camp-other")
        tool(2)
    t1, t2 = tasks(fc.get_buffer())
    assert (t1["workflow_id"], t1["campaign_id"]) == ("wf-other", "camp-other")
    assert "workflow_id" not in t1["used"] and "campaign_id" not in t1["used"]
    assert t2["workflow_id"] == fc.current_workflow_id


def test_custom_args_handler_from_the_seeds_drops_big_arguments():
    drop = ["very_big_list", "super_large_matrix"]

    def custom_args_handler(*args, **kwargs):
        if len(args):
            raise Exception("named args only")
        handled = dict(kwargs)
        for k in drop:
            handled.pop(k, None)
        return handled

    @flowcept_task(args_handler=custom_args_handler, output_names="result")
    def heavy_function(x, very_big_list, super_large_matrix):
        return x * 2

    with Flowcept() as fc:
        assert heavy_function(x=3, very_big_list=[1] * 10, super_large_matrix=[[1]]) == 6
        assert heavy_function(4, [1], [[2]]) == 8  # handler raises: logged, the call is unaffected
    t1, t2 = tasks(fc.get_buffer())
    assert t1["used"] == {"x": 3} and t1["generated"] == {"result": 6}
    assert "args_handler_error" in t2["used"]


def test_unknown_decorator_option_is_a_clear_error():
    with pytest.raises(TypeError, match="output_name.*allowed"):

        @flowcept_task(output_name="y")
        def f(x):
            return x


def test_values_that_are_not_json_never_break_the_call():
    class Opaque:
        pass

    cyclic: dict = {"name": "loop"}
    cyclic["self"] = cyclic

    @flowcept_task
    def f(obj, cyc, big):
        return obj

    with Flowcept() as fc:
        o = Opaque()
        assert f(o, cyclic, list(range(50_000))) is o
    (t,) = tasks(Flowcept.read_buffer_file())
    assert t["used"]["obj"].startswith("Opaque_instance_id_")
    assert "<cycle" in str(t["used"]["cyc"])
    assert len(t["used"]["big"]) <= 10_001
    assert t["generated"]["arg_0"].startswith("Opaque_instance_id_")
    assert tasks(fc.get_buffer())[0]["used"]["obj"] == t["used"]["obj"]


def test_lightweight_task_records_fewer_fields_and_errors():
    @lightweight_flowcept_task
    def fast_op(x):
        if x < 0:
            raise RuntimeError("negative")
        return x + 1

    with Flowcept() as fc:
        fast_op(1)
        with pytest.raises(RuntimeError):
            fast_op(-1)
    ok, bad = tasks(fc.get_buffer())
    assert ok["used"] == {"x": 1} and ok["generated"] == {"arg_0": 2} and ok["status"] == "FINISHED"
    assert "started_at" not in ok and ok["task_id"] and ok["workflow_id"] == fc.current_workflow_id
    assert bad["status"] == "ERROR" and "negative" in bad["stderr"]


def test_lightweight_task_nested_in_a_task_gets_its_parent():
    @lightweight_flowcept_task
    def leaf(x):
        return x

    @flowcept_task
    def root():
        return leaf(1)

    with Flowcept() as fc:
        root()
    msgs = fc.get_buffer()
    assert tasks(msgs, "leaf")[0]["parent_task_id"] == tasks(msgs, "root")[0]["task_id"]


def test_telemetry_task_records_fresh_telemetry_at_start_and_end():
    @telemetry_flowcept_task
    def train_step(batch):
        return sum(range(10_000))

    msgs, _ = run_and_get(train_step, 1)
    (t,) = tasks(msgs)
    for key in ("telemetry_at_start", "telemetry_at_end"):
        assert "cpu" in t[key] and "memory" in t[key], t[key].keys()


def test_flowcept_task_with_telemetry_enabled_attaches_sampled_telemetry(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch, {"telemetry_capture": {"cpu": True, "mem": True}})

    @flowcept_task
    def f(x):
        return x

    msgs, _ = run_and_get(f, 1)
    (t,) = tasks(msgs)
    assert isinstance(t["telemetry_at_end"]["cpu"]["percent_all"], float)
    assert "virtual" in t["telemetry_at_start"]["memory"]


def test_task_ids_are_unique_across_threads():
    @lightweight_flowcept_task
    def a(x):
        return x

    @flowcept_task
    def b(x):
        return x

    with Flowcept() as fc:
        threads = [threading.Thread(target=lambda: [(a(i), b(i)) for i in range(2000)]) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    ts = tasks(fc.get_buffer())
    assert len(ts) == 16_000
    assert len({t["task_id"] for t in ts}) == 16_000


def test_drains_racing_producers_keep_every_call_exactly_once():
    @flowcept_task
    def b(x):
        return x

    def produce(k):
        for i in range(30_000):
            b(k * 1_000_000 + i)

    with Flowcept() as fc:
        threads = [threading.Thread(target=produce, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            fc.get_buffer()  # drains many windows of a buffer the threads keep appending to
        for t in threads:
            t.join()
    xs = [t["used"]["x"] for t in tasks(fc.get_buffer())]
    assert len(xs) == 90_000
    assert set(xs) == {k * 1_000_000 + i for k in range(3) for i in range(30_000)}


def test_async_task_records_and_reraises():
    @flowcept_task(output_names="v")
    async def fetch(x):
        await asyncio.sleep(0)
        if x == 0:
            raise KeyError("zero")
        return x * 10

    async def main():
        await fetch(2)
        with pytest.raises(KeyError):
            await fetch(0)

    with Flowcept() as fc:
        asyncio.run(main())
    ok, bad = tasks(fc.get_buffer())
    assert ok["generated"] == {"v": 20} and bad["status"] == "ERROR"
