"""Flowcept controller: lifecycle, workflow messages, buffer files, online delivery over the memory MQ."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from flowcept import BaseConsumer, Flowcept, flowcept_task
from flowcept.instrumentation.flowcept_decorator import flowcept
from tests._util import Collector, tasks, use_settings

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    use_settings(tmp_path, monkeypatch)


@flowcept_task(output_names="z")
def add_one(x):
    return x + 1


def workflows(msgs):
    return [m for m in msgs if m.get("type") == "workflow"]


def test_context_manager_example_from_the_seeds(capsys):
    with Flowcept(workflow_name="my_workflow"):
        z = add_one(7)
        print(z)
    assert capsys.readouterr().out.strip() == "8"
    msgs = Flowcept.read_buffer_file()
    (wf,) = workflows(msgs)
    (t,) = tasks(msgs)
    assert wf["name"] == "my_workflow" and t["workflow_id"] == wf["workflow_id"]
    assert t["used"] == {"x": 7} and t["generated"] == {"z": 8}


def test_workflow_message_carries_system_fields_and_never_the_environment(monkeypatch):
    monkeypatch.setenv("MY_SECRET_TOKEN", "s3cr3t-value-xyz")
    with Flowcept(workflow_name="wf", workflow_subtype="ml_workflow", workflow_args={"epochs": 3},
                  campaign_id="camp", parent_workflow_id="parent-wf", agent_id="agent-1") as fc:
        pass
    (wf,) = workflows(fc.get_buffer())
    for key in ("user", "hostname", "node_name", "sys_name", "flowcept_version", "utc_timestamp", "machine_info",
                "flowcept_settings", "conf", "started_at", "ended_at"):
        assert key in wf, key
    assert wf["used"] == {"epochs": 3} and wf["subtype"] == "ml_workflow"
    assert wf["campaign_id"] == "camp" and wf["parent_workflow_id"] == "parent-wf" and wf["agent_id"] == "agent-1"
    assert wf["status"] == "FINISHED"
    assert "s3cr3t-value-xyz" not in json.dumps(wf)


def test_exception_in_flowcept_block_marks_workflow_error_and_propagates():
    with pytest.raises(RuntimeError, match="kaput"):
        with Flowcept(workflow_name="failing"):
            add_one(1)
            raise RuntimeError("kaput")
    msgs = Flowcept.read_buffer_file()
    (wf,) = workflows(msgs)
    assert wf["status"] == "ERROR" and "RuntimeError: kaput" in wf["stderr"]
    assert len(tasks(msgs)) == 1


def test_manual_start_stop_and_current_workflow_id_known_before_start():
    fc = Flowcept(workflow_name="manual_example")
    wf_id = fc.current_workflow_id
    assert wf_id
    fc.start()
    assert Flowcept.current_workflow_id == wf_id
    add_one(20)
    fc.stop()
    fc.stop()  # idempotent
    assert {m["workflow_id"] for m in Flowcept.read_buffer_file()} == {wf_id}


def test_save_workflow_false_sends_no_workflow_message():
    with Flowcept(save_workflow=False) as fc:
        add_one(1)
    assert workflows(fc.get_buffer()) == [] and len(tasks(fc.get_buffer())) == 1


def test_dump_buffer_overwrites_and_never_duplicates(tmp_path):
    path = str(tmp_path / "mine.jsonl")
    with Flowcept() as fc:
        add_one(1)
        fc.dump_buffer(path)
        fc.dump_buffer(path)
        add_one(2)
        fc.dump_buffer(path)
    lines = Flowcept.read_buffer_file(path)
    assert len(lines) == 3  # workflow + 2 tasks
    assert len({m.get("task_id") for m in tasks(lines)}) == 2


def test_previous_buffer_file_is_deleted_at_start_unless_told_not_to(tmp_path):
    with Flowcept():
        add_one(1)
    with Flowcept(delete_buffer_file=False) as fc:
        add_one(2)
        assert os.path.exists("flowcept_buffer.jsonl")
    assert len(tasks(Flowcept.read_buffer_file())) == 1  # rewritten by this run's stop
    Flowcept.delete_buffer_file()
    assert not os.path.exists("flowcept_buffer.jsonl")
    Flowcept.delete_buffer_file()  # missing file: no error
    assert fc.get_buffer()  # the memory buffer is kept


def test_read_buffer_file_as_dataframes():
    pytest.importorskip("pandas")

    @flowcept_task
    def attention(x):
        return {"attention": x * 2, "nested": {"deep": x}}

    with Flowcept() as fc:
        attention(3)
        df_buf = fc.get_buffer(return_df=True)
    assert "generated.attention" in df_buf.columns
    df_norm = Flowcept.read_buffer_file("flowcept_buffer.jsonl", return_df=True, normalize_df=True)
    assert {"used.x", "generated.attention", "generated.nested.deep"} <= set(df_norm.columns)
    df_raw = Flowcept.read_buffer_file("flowcept_buffer.jsonl", return_df=True, normalize_df=False)
    assert "generated" in df_raw.columns and "generated.attention" not in df_raw.columns


def test_read_buffer_file_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        Flowcept.read_buffer_file(str(tmp_path / "nope.jsonl"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\n{"b": \n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        Flowcept.read_buffer_file(str(bad))


def test_consolidate_merges_split_files_of_a_workflow(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch, {"project": {"dump_buffer": {"append_id_to_path": True}}})
    with Flowcept(workflow_id="wf-split") as a:
        add_one(1)
    with Flowcept(workflow_id="wf-split") as b:
        add_one(2)
    assert a._dump_path() != b._dump_path() and os.path.exists(a._dump_path())
    msgs = Flowcept.read_buffer_file(consolidate=True, workflow_id="wf-split")
    assert sorted(t["used"]["x"] for t in tasks(msgs)) == [1, 2]
    assert os.path.exists("flowcept_buffer_wf-split.jsonl")
    assert not os.path.exists(a._dump_path()) and not os.path.exists(b._dump_path())


def test_flowcept_decorator_runs_main_as_a_workflow():
    @flowcept
    def main():
        return add_one(41)

    @flowcept(workflow_name="named", campaign_id="c9")
    def other():
        return add_one(1)

    assert main() == 42
    (wf,) = workflows(Flowcept.read_buffer_file())
    assert wf["name"] == "main"
    other()
    (wf,) = workflows(Flowcept.read_buffer_file())
    assert wf["name"] == "named" and wf["campaign_id"] == "c9"


def test_nested_flowcept_is_a_sub_workflow_and_restores_the_outer_one():
    with Flowcept(workflow_name="outer") as outer:
        add_one(1)
        with Flowcept(workflow_name="inner", parent_workflow_id=outer.current_workflow_id) as inner:
            add_one(2)
        add_one(3)
    assert [t["used"]["x"] for t in tasks(outer.get_buffer())] == [1, 3]
    assert [t["used"]["x"] for t in tasks(inner.get_buffer())] == [2]
    assert workflows(inner.get_buffer())[0]["parent_workflow_id"] == outer.current_workflow_id


def test_bad_constructor_arguments_are_clear_errors():
    with pytest.raises(TypeError, match="workflow_args"):
        Flowcept(workflow_args=[1, 2])
    with pytest.raises(TypeError, match="interceptors"):
        Flowcept(interceptors=[3])


ONLINE = {"project": {"db_flush_mode": "online"}, "mq": {"type": "memory", "buffer_size": 7,
                                                         "insertion_buffer_time_secs": 0.2}}


def test_online_memory_mq_delivers_everything_to_an_in_process_consumer(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch, ONLINE)
    consumer = Collector().start(daemon=True)
    with Flowcept(workflow_name="online") as fc:
        for i in range(1000):
            add_one(i)
    deadline = time.time() + 10
    while time.time() < deadline and not any(m.get("info") == "end_of_stream" for m in consumer.msgs):
        time.sleep(0.05)
    consumer.stop_consumption()
    got = tasks(consumer.msgs)
    assert sorted(t["used"]["x"] for t in got) == list(range(1000))
    wf_msgs = workflows(consumer.msgs)
    assert [w.get("status") for w in wf_msgs] == ["RUNNING", "FINISHED"]
    sos, eos = [m for m in consumer.msgs if m.get("type") == "flowcept_control"]
    assert consumer.msgs[0] is sos and sos["info"] == "start_of_stream" and consumer.msgs[-1] is eos
    assert eos["workflow_id"] == fc.current_workflow_id and eos["message_count"] == len(consumer.msgs) - 1
    assert eos["producer_id"] == sos["producer_id"]
    assert len(tasks(Flowcept.read_buffer_file())) == 1000  # dump_buffer still enabled


def test_online_consumer_sees_messages_before_stop(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch, ONLINE)
    consumer = Collector().start(daemon=True)
    with Flowcept():
        add_one(1)
        deadline = time.time() + 5
        while time.time() < deadline and not tasks(consumer.msgs):
            time.sleep(0.02)
        assert tasks(consumer.msgs), "flusher did not deliver within insertion_buffer_time_secs"
    consumer.stop_consumption()


def test_consumer_survives_a_failing_handler_and_stops_when_handler_returns_false(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch, ONLINE)

    class Picky(BaseConsumer):
        seen: list = []

        def message_handler(self, msg_obj):
            self.seen.append(msg_obj.get("type"))
            if msg_obj.get("type") == "workflow" and msg_obj.get("status") == "RUNNING":
                raise KeyError("handler bug")
            return msg_obj.get("info") != "end_of_stream"

    consumer = Picky().start()
    with Flowcept():
        add_one(1)
    consumer._main_thread.join(10)
    assert not consumer.is_running
    assert Picky.seen[-1] == "flowcept_control" and "task" in Picky.seen


def test_unknown_mq_type_fails_at_start_naming_the_setting(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch, {"project": {"db_flush_mode": "online"}, "mq": {"type": "carrier-pigeon"}})
    with pytest.raises(LookupError, match=r"carrier-pigeon.*mq\.type"):
        Flowcept().start()


def test_services_alive_reports_the_memory_mq(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch, ONLINE)
    assert Flowcept.services_alive() is True


def test_a_flowcept_never_stopped_is_stopped_at_exit(tmp_path):
    script = textwrap.dedent("""
        from flowcept import Flowcept, flowcept_task
        @flowcept_task
        def f(x):
            return x
        Flowcept(workflow_name="forgotten").start()
        f(1)
    """)
    env = dict(os.environ, FLOWCEPT_SETTINGS_PATH=os.environ["FLOWCEPT_SETTINGS_PATH"])
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, check=True, timeout=60)
    msgs = Flowcept.read_buffer_file(str(tmp_path / "flowcept_buffer.jsonl"))
    assert len(tasks(msgs)) == 1 and workflows(msgs)[0]["name"] == "forgotten"


def test_task_ids_differ_across_processes(tmp_path):
    script = textwrap.dedent("""
        import sys
        from flowcept import Flowcept, flowcept_task
        @flowcept_task
        def f(x):
            return x
        with Flowcept(workflow_name="p"):
            for i in range(100):
                f(i)
        Flowcept  # noqa
    """)
    ids = set()
    for i in range(3):
        d = tmp_path / f"p{i}"
        d.mkdir()
        subprocess.run([sys.executable, "-c", script], cwd=d, env=dict(os.environ), check=True, timeout=60)
        ids |= {t["task_id"] for t in tasks(Flowcept.read_buffer_file(str(d / "flowcept_buffer.jsonl")))}
    assert len(ids) == 300


def test_examples_in_the_repository_run(tmp_path):
    example = os.path.join(REPO, "examples", "quickstart.py")
    env = {k: v for k, v in os.environ.items() if k != "FLOWCEPT_SETTINGS_PATH"}
    env["HOME"] = str(tmp_path)
    out = subprocess.run([sys.executable, example], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert "used {'x': 21} generated {'y': 42}" in out


def test_seeds_consumer_example_prints_tasks(tmp_path, monkeypatch, capsys):
    from flowcept.commons.flowcept_dataclasses.task_object import TaskObject
    from flowcept.flowceptor.consumers.base_consumer import BaseConsumer as DocumentedBase

    use_settings(tmp_path, monkeypatch, ONLINE)

    class MyConsumer(DocumentedBase):
        def __init__(self):
            super().__init__()

        def message_handler(self, msg_obj):
            if msg_obj.get("type", "") == "task":
                msg = TaskObject.from_dict(msg_obj)
                print(msg)
                if msg.used:
                    print(f"\t\tUsed: {msg.used}")
                if msg.generated:
                    print(f"\t\tGenerated: {msg.generated}")
            else:
                print(f"We got a msg with different type: {msg_obj.get('type', None)}")
            return msg_obj.get("info") != "end_of_stream"

    consumer = MyConsumer()
    consumer.start(daemon=False)
    with Flowcept(workflow_name="consumed"):
        add_one(41)
    consumer._main_thread.join(10)
    out = capsys.readouterr().out
    assert "Used: {'x': 41}" in out and "Generated: {'z': 42}" in out
    assert "We got a msg with different type: workflow" in out
    assert not consumer.is_running


def test_sigterm_of_a_producer_loses_nothing_it_captured(tmp_path):
    import signal as _signal

    script = textwrap.dedent("""
        import sys, time
        from flowcept import Flowcept, flowcept_task
        @flowcept_task
        def f(x):
            return x
        Flowcept(workflow_name="terminated").start()
        i = 0
        while True:
            f(i)
            if i % 100 == 99:
                print(i + 1, flush=True)
            i += 1
            time.sleep(0.0005)
    """)
    env = dict(os.environ, FLOWCEPT_SETTINGS_PATH=os.environ["FLOWCEPT_SETTINGS_PATH"])
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
    seen = 0
    while seen < 300:
        seen = int(proc.stdout.readline())
    proc.send_signal(_signal.SIGTERM)
    proc.wait(30)
    msgs = Flowcept.read_buffer_file(str(tmp_path / "flowcept_buffer.jsonl"))
    assert len(tasks(msgs)) >= seen
    assert workflows(msgs)[0]["status"] == "ERROR" and "SIGTERM" in workflows(msgs)[0]["stderr"]
    assert proc.returncode == 128 + _signal.SIGTERM


def test_a_failed_start_leaves_no_capture_running():
    from flowcept_core.capture.context import STATE

    @flowcept_task
    def f(x):
        return x

    before = STATE.run
    with pytest.raises(LookupError, match="nosuch"):
        Flowcept(interceptors=["instrumentation", "nosuch"]).start()
    assert STATE.run is before
    assert f(2) == 2
