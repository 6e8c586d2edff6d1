"""Interceptors as a plugin kind: the built-in one under the contract, choosing them (argument and settings), the
Interceptor base, the Emitter and the message builders, and Flowcept() keyword checking."""

from __future__ import annotations

import pytest
import yaml

from flowcept import Flowcept, flowcept_task
from flowcept_core.emitter import RunEmitter
from flowcept_core.messages import task_message, workflow_message
from flowcept_core.plugin import Interceptor, InterceptorSpec, hookimpl
from flowcept_core.registry import get_registry, reset_registry
from flowcept_core.settings import Settings, reset_settings
from flowcept_core.testing import InterceptorContract


@flowcept_task
def square(x):
    return x * x


class _RunRecorder(RunEmitter):
    """A RunEmitter over a retaining Run with no MQ: the built-in interceptor needs a real run."""

    def __init__(self):
        from flowcept_core.buffer import Run

        super().__init__(Run(workflow_id="wf-instr", campaign_id="c", workflow_name=None,
                             settings=Settings({"mq": {}, "project": {}}), retain=True))
        self.run.start()

    @property
    def messages(self):
        return self.run.snapshot()

    def tasks(self):
        return [m for m in self.messages if m.get("type") == "task"]


class TestInstrumentationInterceptor(InterceptorContract):
    interceptor_name = "instrumentation"

    @pytest.fixture
    def make_emitter(self):
        made = []

        def make():
            made.append(_RunRecorder())
            return made[-1]

        yield make
        for e in made:
            e.run.close(1)

    def run_workload(self) -> int:
        for i in range(3):
            square(i)
        return 3


# choosing interceptors -----------------------------------------------------------------------------------------
class Probe(Interceptor):
    """Counts its starts and stops; emits one task per ping() while started."""

    kind = "probe"
    live: list = []

    def _start(self):
        Probe.live.append(self)
        self.emitter.add_workflow_fields(custom_metadata={"probe": self.options.get("probe_level", 0)})

    def _stop(self):
        Probe.live.remove(self)

    @classmethod
    def ping(cls, n=1):
        for p in list(cls.live):
            for _ in range(n):
                p.emitter.emit_task(activity_id="ping", used={"level": p.options.get("probe_level", 0)})


class _ProbePlugin:
    @hookimpl
    def flowcept_interceptors(self):
        return [InterceptorSpec("probe", Probe, kwargs=("probe_level",), summary="test probe")]


@pytest.fixture
def probe_registered(tmp_path, monkeypatch):
    def use(tree):
        path = tmp_path / "settings.yaml"
        path.write_text(yaml.safe_dump({"project": {"db_flush_mode": "offline", "dump_buffer": {"enabled": False}},
                                        "log": {"log_stream_level": "error"}, **tree}))
        monkeypatch.setenv("FLOWCEPT_SETTINGS_PATH", str(path))
        reset_settings()
        reset_registry()
        get_registry().register(_ProbePlugin(), name="probe-plugin", dist="probe-dist")

    use({})
    yield use
    Probe.live.clear()


def _tasks(fc, activity):
    return [m for m in fc.get_buffer() if m.get("type") == "task" and m.get("activity_id") == activity]


def test_naming_an_adapter_keeps_the_decorators_capturing(probe_registered):
    with Flowcept(interceptors="probe", probe_level=2) as fc:
        square(4)
        Probe.ping()
    (sq,) = _tasks(fc, "square")
    assert sq["used"] == {"x": 4}
    (ping,) = _tasks(fc, "ping")
    assert ping["used"] == {"level": 2} and ping["workflow_id"] == fc.current_workflow_id
    assert Probe.live == []


def test_instrumentation_off_in_settings_leaves_only_the_adapter(probe_registered):
    probe_registered({"instrumentation": {"enabled": False}})
    with Flowcept(interceptors=["probe"]) as fc:
        square(2)
        Probe.ping()
    assert _tasks(fc, "square") == [] and len(_tasks(fc, "ping")) == 1


def test_adapters_section_kind_chooses_the_interceptor_by_its_key(probe_registered):
    probe_registered({"adapters": {"my_probe": {"kind": "probe"}}})
    with Flowcept(interceptors=["my_probe"]) as fc:
        Probe.ping(2)
    assert len(_tasks(fc, "ping")) == 2


def test_adapters_enabled_in_settings_start_without_naming_them(probe_registered):
    probe_registered({"adapters": {"my_probe": {"kind": "probe", "enabled": True}}})
    with Flowcept() as fc:
        Probe.ping()
        square(3)
    assert len(_tasks(fc, "ping")) == 1 and len(_tasks(fc, "square")) == 1


def test_add_workflow_fields_reach_the_workflow_record(probe_registered):
    with Flowcept(interceptors=["probe"], probe_level=7) as fc:
        pass
    workflows = [m for m in fc.get_buffer() if m.get("type") == "workflow"]
    assert any(m.get("custom_metadata") == {"probe": 7} for m in workflows), workflows


def test_unknown_keyword_argument_is_a_type_error_naming_it(probe_registered):
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['save_workflow_'\].*accept: none"):
        Flowcept(save_workflow_=False)
    with pytest.raises(TypeError, match=r"\['probe_levle'\].*accept: \['probe_level'\]"):
        Flowcept(interceptors=["probe"], probe_levle=1)


def test_documented_save_workflows_spelling_still_works(probe_registered):
    with Flowcept(save_workflows=False) as fc:
        square(1)
    assert [m for m in fc.get_buffer() if m.get("type") == "workflow"] == []


def test_unknown_interceptor_name_fails_at_start_naming_where_it_comes_from(probe_registered):
    from flowcept_core.registry import UnknownPluginError

    fc = Flowcept(interceptors=["nosuch"])
    with pytest.raises(UnknownPluginError, match=r"'nosuch' \(Flowcept\(interceptors=\[...\]\) or adapters"):
        fc.start()
    assert fc.is_started is False


# the base class ------------------------------------------------------------------------------------------------
def test_base_start_and_stop_are_idempotent_and_a_failed_start_leaves_it_stopped():
    calls = []

    class Flaky(Interceptor):
        kind = "flaky"
        fail = True

        def _start(self):
            calls.append("start")
            if self.fail:
                raise RuntimeError("boom")

        def _stop(self):
            calls.append("stop")

    f = Flaky()
    with pytest.raises(RuntimeError):
        f.start(object())
    assert not f.started
    f.stop()
    assert calls == ["start"]
    f.fail = False
    f.start(object())
    f.start(object())
    f.stop()
    f.stop()
    assert calls == ["start", "start", "stop"]
    with pytest.raises(RuntimeError, match="'flaky' is not started"):
        f.emitter  # noqa: B018


# message builders ----------------------------------------------------------------------------------------------
def test_task_message_fills_type_id_and_timestamp_and_rejects_what_the_schema_lacks():
    msg = task_message(workflow_id="w", activity_id="a", used={"x": 1}, started_at=1.0, ended_at=2.0)
    assert msg["type"] == "task" and msg["status"] == "FINISHED" and msg["utc_timestamp"] == 2.0
    assert msg["task_id"] != task_message(workflow_id="w", activity_id="a")["task_id"]
    with pytest.raises(ValueError, match=r"fields \['colour'\] are not in the task schema"):
        task_message(workflow_id="w", activity_id="a", colour="red")
    with pytest.raises(ValueError, match="status='DONE' is not allowed"):
        task_message(workflow_id="w", activity_id="a", status="DONE")
    with pytest.raises(ValueError, match="used=3 must be a dict"):
        task_message(workflow_id="w", activity_id="a", used=3)
    with pytest.raises(ValueError, match="activity_id='' must be a non-empty string"):
        task_message(workflow_id="w", activity_id="")


def test_workflow_message_keeps_schema_fields_only():
    assert workflow_message(workflow_id="w", name="n", status="RUNNING") == {
        "type": "workflow", "workflow_id": "w", "name": "n", "status": "RUNNING"}
    with pytest.raises(ValueError, match=r"\['nam'\] are not in the workflow schema"):
        workflow_message(workflow_id="w", nam="n")


def test_an_interceptor_object_is_started_as_it_is_beside_the_decorators(probe_registered):
    probe = Probe(None, probe_level=5)
    with Flowcept(interceptors=probe) as fc:
        assert probe.started
        Probe.ping()
        square(5)
    assert not probe.started
    (ping,) = _tasks(fc, "ping")
    assert ping["used"] == {"level": 5} and len(_tasks(fc, "square")) == 1


@pytest.mark.parametrize("bad", [42, ["instrumentation", 3.5], {"a": 1}])
def test_an_interceptors_item_that_is_neither_a_name_nor_an_interceptor_is_a_type_error(bad):
    with pytest.raises(TypeError, match="interceptors"):
        Flowcept(interceptors=bad)
