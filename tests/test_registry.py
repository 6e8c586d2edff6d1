"""The plugin registry, exercised with real distributions discovered through their entry points.

The fixture plugins under tests/fixture_plugins are built and installed into a private directory that these tests
put on sys.path (tests/_plugin_build.py): the venv the tests run in never has them installed.

flowcept-fixture-dup provides its MQ names only while FLOWCEPT_FIXTURE_DUP=1 (see its hooks module), so its
duplicate "memory" cannot break the other tests; the tests that need it set the variable.
"""

from __future__ import annotations

import time

import pytest
import yaml

from flowcept import BaseConsumer, Flowcept, flowcept_task
from flowcept_core.registry import (
    BUILTIN_DIST,
    DuplicatePluginError,
    PluginRegistry,
    UnknownPluginError,
    get_registry,
    reset_registry,
)
from flowcept_core.settings import reset_settings
from tests._plugin_build import fixture_plugins_path


@pytest.fixture(autouse=True)
def fixtures_installed(monkeypatch):
    monkeypatch.syspath_prepend(str(fixture_plugins_path()))


@pytest.fixture
def dup_active(monkeypatch):
    monkeypatch.setenv("FLOWCEPT_FIXTURE_DUP", "1")


def _dists(registry: PluginRegistry, kind: str) -> dict[str, str]:
    return {p.name: p.dist for p in registry.provided(kind)}


# discovery -------------------------------------------------------------------------------------------------------
def test_installed_plugin_is_discovered_through_its_entry_point():
    r = PluginRegistry(env={})
    assert _dists(r, "mq_backend")["echo"] == "flowcept-fixture-good"
    assert _dists(r, "interceptor")["fixture_interceptor"] == "flowcept-fixture-good"
    assert _dists(r, "mq_backend")["memory"] == BUILTIN_DIST
    assert _dists(r, "interceptor")["instrumentation"] == BUILTIN_DIST


def test_discovered_backend_factory_builds_a_working_echo_backend():
    spec = PluginRegistry(env={}).resolve("mq_backend", "echo")
    backend = spec.factory(None, "registry-echo-test")
    sub = backend.subscribe()
    backend.publish([{"type": "task", "task_id": "e1"}])
    assert backend.name == "echo"
    assert [m["task_id"] for m in sub.receive(2)] == ["e1"]
    sub.close()
    assert backend.close(1) == 0


def test_broken_plugin_is_recorded_with_its_reason_and_others_still_load():
    r = PluginRegistry(env={})
    # other real plugins may be installed (and may fail in this environment); the fixture's failure is what we check
    assert "broken" in r.failures
    assert "ImportError" in r.failures["broken"]
    assert "echo" in r.names("mq_backend")
    assert "fixture: missing dependency xyz" in r.failures["broken"]
    assert "flowcept-fixture-broken" in r.failures["broken"]
    assert "echo" in r.names("mq_backend")


@pytest.mark.parametrize("how", ["env", "argument"])
def test_strict_mode_reraises_the_plugin_import_error(how):
    kwargs = {"env": {"FLOWCEPT_STRICT_PLUGINS": "1"}} if how == "env" else {"env": {}, "strict": True}
    with pytest.raises(ImportError, match="fixture: missing dependency xyz"):
        PluginRegistry(**kwargs)


@pytest.mark.parametrize("how", ["env", "argument"])
def test_autoload_off_leaves_only_the_builtins(how, dup_active):
    kwargs = {"env": {"FLOWCEPT_DISABLE_PLUGIN_AUTOLOAD": "1"}} if how == "env" else {"env": {}, "autoload": False}
    r = PluginRegistry(**kwargs)
    assert r.names("mq_backend") == ["memory"]
    assert r.names("interceptor") == ["instrumentation"]
    assert r.failures == {}
    assert r.conflicts("mq_backend") == {}
    assert r.resolve("mq_backend", "memory").factory(None, "autoload-off").name == "memory"


def test_disabled_entry_point_name_is_not_loaded():
    r = PluginRegistry(disabled=["echo_mq", "broken"], env={})
    assert "echo" not in r.names("mq_backend")
    assert "fixture_interceptor" not in r.names("interceptor")
    assert "broken" not in r.failures and "echo_mq" not in r.failures


def test_disabled_spec_name_is_skipped_but_its_siblings_stay(dup_active):
    r = PluginRegistry(disabled=["echo", "dup_only"], env={})
    assert "echo" not in r.names("mq_backend") and "dup_only" not in r.names("mq_backend")
    assert "fixture_interceptor" in r.names("interceptor")  # same plugin, other spec
    with pytest.raises(UnknownPluginError, match=r"'echo' is listed in plugins.disabled"):
        r.resolve("mq_backend", "echo")


def test_disabling_the_duplicating_entry_point_resolves_memory_to_the_builtin(dup_active):
    r = PluginRegistry(disabled=["dup_memory"], env={})
    assert r.conflicts("mq_backend") == {}
    assert _dists(r, "mq_backend")["memory"] == BUILTIN_DIST


# duplicates and unknown names ---------------------------------------------------------------------------------
def test_duplicate_name_raises_naming_both_distributions(dup_active):
    r = PluginRegistry(env={})
    with pytest.raises(DuplicatePluginError) as err:
        r.resolve("mq_backend", "memory")
    msg = str(err.value)
    assert "'memory'" in msg and BUILTIN_DIST in msg and "flowcept-fixture-dup" in msg


def test_name_only_the_duplicating_plugin_provides_resolves(dup_active):
    r = PluginRegistry(env={})
    assert _dists(r, "mq_backend")["dup_only"] == "flowcept-fixture-dup"
    backend = r.resolve("mq_backend", "dup_only").factory(None, "dup-only-test")
    assert backend.liveness_test() is True
    backend.close(1)


def test_unknown_name_error_lists_available_failed_and_install_hint():
    r = PluginRegistry(env={})
    with pytest.raises(UnknownPluginError) as err:
        r.resolve("mq_backend", "nosuch")
    msg = str(err.value)
    assert "'nosuch'" in msg and "mq.type" in msg
    available = msg.split("available: ", 1)[1].split(".", 1)[0].split(", ")
    assert {"echo", "memory"} <= set(available)  # plus any real plugins installed in this environment
    assert "broken" in msg and "fixture: missing dependency xyz" in msg
    assert 'pip install "flowcept[nosuch]"' in msg
    assert isinstance(err.value, LookupError)


def test_report_mentions_every_name_provider_conflict_failure_and_disabled_name(dup_active):
    report = PluginRegistry(disabled=["dup_only"], env={}).report()
    for text in (
        "mq_backend:",
        "interceptor:",
        "echo",
        "fixture_interceptor",
        "flowcept-fixture-good",
        "instrumentation",
        BUILTIN_DIST,
        "flowcept-fixture-dup",
        "CONFLICT",
        "broken",
        "fixture: missing dependency xyz",
        "disabled: dup_only",
    ):
        assert text in report, f"{text!r} missing from:\n{report}"
    conflict_line = next(line for line in report.splitlines() if "CONFLICT" in line)
    assert conflict_line.split()[0] == "memory"


# through settings and Flowcept ----------------------------------------------------------------------------------
def _write_settings(tmp_path, monkeypatch, tree: dict) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(tree))
    monkeypatch.setenv("FLOWCEPT_SETTINGS_PATH", str(path))
    reset_settings()
    reset_registry()


@pytest.fixture
def reset_after():
    yield
    reset_settings()
    reset_registry()


QUIET = {"log": {"log_stream_level": "error", "log_file_level": "disable"}}


def test_global_registry_honours_plugins_disabled_from_settings(tmp_path, monkeypatch, reset_after):
    _write_settings(tmp_path, monkeypatch, {"plugins": {"disabled": ["echo_mq"]}, **QUIET})
    assert "echo" not in get_registry().names("mq_backend")
    assert "memory" in get_registry().names("mq_backend")


@flowcept_task(output_names="y")
def double(x):
    return 2 * x


class Collector(BaseConsumer):
    def __init__(self):
        super().__init__()
        self.msgs: list[dict] = []

    def message_handler(self, msg_obj: dict) -> bool:
        self.msgs.append(msg_obj)
        return True


def test_plugin_mq_backend_and_interceptor_run_end_to_end(tmp_path, monkeypatch, reset_after):
    from flowcept_fixture_good.echo import EchoMQ

    _write_settings(
        tmp_path,
        monkeypatch,
        {
            "mq": {"type": "echo", "insertion_buffer_time_secs": 0.2},
            "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
            **QUIET,
        },
    )
    published_before = EchoMQ.published
    consumer = Collector().start(daemon=True)
    assert consumer._mq.name == "echo"
    with Flowcept(workflow_name="x", interceptors=["instrumentation", "fixture_interceptor"]) as fc:
        assert double(21) == 42
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(m.get("type") == "flowcept_control" for m in consumer.msgs):
        time.sleep(0.05)
    consumer.stop_consumption()
    msgs = consumer.msgs
    (task,) = [m for m in msgs if m.get("type") == "task"]
    assert task["used"] == {"x": 21} and task["generated"] == {"y": 42}
    assert task["workflow_id"] == fc.current_workflow_id
    workflows = [m for m in msgs if m.get("type") == "workflow"]
    assert workflows and workflows[0]["name"] == "x" and workflows[0]["workflow_id"] == fc.current_workflow_id
    fixture = [m for m in msgs if m.get("type") == "fixture"]
    assert len(fixture) == 1 and fixture[0]["hello"] == "world"
    assert EchoMQ.published - published_before >= len(msgs)
    assert not (tmp_path / "flowcept_buffer.jsonl").exists()


def test_unknown_mq_type_makes_start_fail_naming_the_setting(tmp_path, monkeypatch, reset_after):
    _write_settings(tmp_path, monkeypatch, {"mq": {"type": "nosuch"}, "project": {"db_flush_mode": "online"}, **QUIET})
    fc = Flowcept(workflow_name="x")
    with pytest.raises(UnknownPluginError) as err:
        fc.start()
    assert "mq.type" in str(err.value) and "nosuch" in str(err.value)
    assert fc.is_started is False


def test_custom_consumer_registered_by_entry_point_is_started_with_persistence(tmp_path, monkeypatch):
    from flowcept_fixture_good.echo import FixtureConsumer

    from flowcept import Flowcept, flowcept_task
    from tests._util import use_settings

    monkeypatch.chdir(tmp_path)
    use_settings(tmp_path, monkeypatch, {"project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
                                         "mq": {"type": "memory", "channel": "custom-consumer"},
                                         "plugins": {"consumers": ["fixture_counter"]}})
    FixtureConsumer.seen.clear()

    @flowcept_task
    def f(x):
        return x

    with Flowcept(start_persistence=True):
        f(1)
        f(2)
    assert len(FixtureConsumer.seen) == 2, FixtureConsumer.seen
    with Flowcept(start_persistence=False):
        f(3)
    assert len(FixtureConsumer.seen) == 2  # not started without persistence
