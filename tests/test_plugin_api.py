"""The plugin API surface: plugins import only flowcept_core.plugin; specs, names and factories are checked."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pluggy
import pytest

import flowcept_core.plugin as plugin_api
from flowcept_core.plugin import InterceptorSpec, Key, MQBackendSpec, SettingsSection, StoreSpec, hookimpl
from flowcept_core.registry import PluginLoadError, PluginRegistry
from flowcept_core.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {"flowcept_core.plugin"}


def _core_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "flowcept_core":
                names = [f"flowcept_core.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found += [f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in names
                  if (n == "flowcept_core" or n.startswith("flowcept_core.")) and n not in ALLOWED]
    return found


def test_plugin_code_imports_no_core_module_but_the_plugin_api():
    files = [p for p in (ROOT / "plugins").rglob("*.py") if "tests" not in p.relative_to(ROOT / "plugins").parts]
    assert len(files) > 20  # the scan really saw the plugins
    offenders = [hit for p in files for hit in _core_imports(p)]
    assert offenders == [], "plugins must import the core only through flowcept_core.plugin:\n" + "\n".join(offenders)


def test_the_scan_catches_a_deep_core_import(tmp_path, monkeypatch):
    bad = ROOT / "plugins" / "_scan_probe.py"
    monkeypatch.setattr(sys.modules[__name__], "ROOT", ROOT)
    bad_src = "from flowcept_core.wire import encode_batch\nimport flowcept_core.stores\n"
    probe = tmp_path / "probe.py"
    probe.write_text(bad_src)
    hits = [h.split(" ", 1)[1] for h in _core_imports_at(probe, tmp_path)]
    assert hits == ["flowcept_core.wire", "flowcept_core.stores"]
    assert not bad.exists()


def _core_imports_at(path: Path, root: Path) -> list[str]:
    global ROOT
    saved, ROOT = ROOT, root
    try:
        return _core_imports(path)
    finally:
        ROOT = saved


def test_every_offered_name_resolves():
    for name in plugin_api.__all__:
        assert getattr(plugin_api, name) is not None, name
    with pytest.raises(AttributeError, match="plugin API offers"):
        plugin_api.no_such_name  # noqa: B018


def test_importing_the_plugin_api_stays_cheap():
    code = ("import sys, flowcept_core.plugin; heavy = [m for m in ('flowcept_core.filters', 'flowcept_core.wire', "
            "'flowcept_core.buffer', 'flowcept_core.settings', 'msgpack', 'orjson', 'yaml') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# spec records ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["Redis", "my-adapter", "", "a b", "ü", None])
def test_spec_rejects_a_name_outside_the_naming_rule(name):
    with pytest.raises(ValueError, match=r"plugin name .* is not allowed: use lowercase"):
        MQBackendSpec(name, "x.y:Z")


def test_spec_rejects_a_factory_that_is_neither_a_target_nor_callable():
    with pytest.raises(ValueError, match="factory='flowcept_x' must be 'package.module:attribute'"):
        StoreSpec("x", "flowcept_x")
    with pytest.raises(TypeError, match="is not callable"):
        StoreSpec("x", 42)


class _Hooks:
    def __init__(self, **hooks):
        for name, fn in hooks.items():
            setattr(self, name, hookimpl(fn))


def _registry_with(plugin, strict=False) -> PluginRegistry:
    r = PluginRegistry(autoload=False, env={}, strict=strict)
    r.register(plugin, name="probe", dist="probe-dist")
    return r


def test_a_hook_with_a_misspelt_name_is_refused_at_registration():
    r = PluginRegistry(autoload=False, env={})

    class Typo:
        @hookimpl
        def flowcept_mq_backend(self):  # missing "s"
            return []

    with pytest.raises(pluggy.PluginValidationError, match="flowcept_mq_backend"):
        r.register(Typo(), name="typo", dist="typo-dist")
    assert r.names("mq_backend") == ["memory"]


def test_a_spec_of_the_wrong_kind_is_recorded_as_a_failure_and_others_load():
    r = _registry_with(_Hooks(flowcept_stores=lambda: [MQBackendSpec("oops", "a.b:C")]))
    assert r.names("store") == []
    assert "probe" in r.failures and "expected StoreSpec" in r.failures["probe"]
    assert "memory" in r.names("mq_backend")


def test_strict_registry_raises_for_a_bad_spec():
    with pytest.raises(ValueError, match="expected StoreSpec"):
        _registry_with(_Hooks(flowcept_stores=lambda: [MQBackendSpec("oops", "a.b:C")]), strict=True).names("store")


def test_lazy_factory_imports_on_first_call_and_missing_library_names_itself_with_a_hint():
    spec = MQBackendSpec("ghost", "flowcept_core.builtins.memory_mq:MemoryMQ", requires=("no_such_lib_xyz",),
                         extra="ghost")
    r = _registry_with(_Hooks(flowcept_mq_backends=lambda: [spec]))
    resolved = r.resolve("mq_backend", "ghost")
    assert "ghost" not in r.failures  # listing imported nothing
    with pytest.raises(PluginLoadError) as err:
        resolved.factory(None, "c")
    msg = str(err.value)
    assert "no_such_lib_xyz" in msg and 'pip install "flowcept[ghost]"' in msg
    assert isinstance(err.value, ImportError)
    assert "no_such_lib_xyz" in r.failures["ghost"]


def test_lazy_factory_target_builds_the_object():
    spec = MQBackendSpec("mem2", "flowcept_core.builtins.memory_mq:MemoryMQ")
    r = _registry_with(_Hooks(flowcept_mq_backends=lambda: [spec]))
    backend = r.resolve("mq_backend", "mem2").factory(None, "lazy-target")
    assert type(backend).__name__ == "MemoryMQ" and backend.channel == "lazy-target"


def test_install_hint_from_a_source_checkout_names_the_plugin_directory():
    spec = StoreSpec("lmdb2", "flowcept_lmdb.nosuch:X", extra="lmdb")
    r = _registry_with(_Hooks(flowcept_stores=lambda: [spec]))
    with pytest.raises(PluginLoadError) as err:
        r.resolve("store", "lmdb2").factory(None)
    assert f"pip install -e {ROOT / 'plugins' / 'lmdb'}" in str(err.value)


def test_store_read_preference_comes_from_the_specs():
    from flowcept_core.stores import enabled_store_names

    s = Settings({"databases": {"lmdb": {"enabled": True}, "mongodb": {"enabled": True}}})
    r = PluginRegistry(env={})
    if not {"lmdb", "mongodb"} <= set(r.names("store")):
        pytest.skip("the lmdb and mongodb plugins are not installed")
    assert enabled_store_names(s) == ["mongodb", "lmdb"]


# settings sections ---------------------------------------------------------------------------------------------
SECTION = SettingsSection("adapters.probe", {"rate": Key((int, float), 1.0, minimum=0),
                                             "mode": Key(str, "fast", choices=("fast", "slow"))})


def test_section_reports_key_value_and_what_is_allowed():
    with pytest.raises(SettingsError, match=r"adapters\.probe\.rate = 'x' has type str; expected int or float"):
        SECTION.validate(Settings({"adapters": {"probe": {"rate": "x"}}}))
    with pytest.raises(SettingsError, match=r"adapters\.probe\.mode = 'medium' is not allowed; choose one of"):
        SECTION.validate(Settings({"adapters": {"probe": {"mode": "medium"}}}))
    with pytest.raises(SettingsError, match=r"adapters\.probe\.rate = -1 must be at least 0"):
        SECTION.validate(Settings({"adapters": {"probe": {"rate": -1}}}))
    with pytest.raises(SettingsError, match="has type bool"):
        SECTION.validate(Settings({"adapters": {"probe": {"rate": True}}}))


def test_section_warns_about_unknown_keys_with_the_closest_one_and_fills_defaults():
    s = Settings({"adapters": {"probe": {"rat": 2, "kind": "probe"}}})
    assert SECTION.validate(s, core_keys=("kind",)) == [
        "unknown settings key adapters.probe.rat is ignored; did you mean adapters.probe.rate?"]
    assert SECTION.values(Settings({"adapters": {"probe": {"rate": 3}}})) == {"rate": 3, "mode": "fast"}


def test_interceptor_spec_settings_given_as_a_mapping_live_under_adapters():
    spec = InterceptorSpec("probe", "x.y:Z", {"rate": float})
    assert spec.settings.path == "adapters.probe" and spec.settings.closed is False


def test_listing_names_a_missing_library_with_its_install_command_without_importing_anything():
    spec = MQBackendSpec("ghost", "flowcept_core.builtins.memory_mq:MemoryMQ", requires=("no_such_lib_xyz",),
                         extra="ghost", summary="a backend whose library is missing")
    report = _registry_with(_Hooks(flowcept_mq_backends=lambda: [spec])).report()
    lines = report.splitlines()
    i = next(n for n, line in enumerate(lines) if line.split()[:1] == ["ghost"])
    assert "not usable: needs no_such_lib_xyz" in lines[i + 1] and 'pip install "flowcept[ghost]"' in lines[i + 1]
    assert "memory" in report and "not usable" not in lines[i - 1]


def test_flowcept_plugins_imports_no_plugin_library():
    code = ("import sys; from flowcept_core.cli import main; main(['plugins']); "
            "print(sorted(m for m in ('redis', 'confluent_kafka', 'pika', 'pymongo', 'lmdb') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
