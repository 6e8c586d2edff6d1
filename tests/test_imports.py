"""Import structure: every core and plugin module imports alone in a fresh interpreter, module-level imports form no
cycle, and the public API imports without typing, re or the secret redactor."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = [ROOT / "flowcept_core", *sorted(p for p in (ROOT / "plugins").glob("*/flowcept_*") if p.is_dir())]


def _module_name(path: Path, package_dir: Path) -> str:
    parts = [package_dir.name, *path.relative_to(package_dir).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path, pkg): path for pkg in PACKAGES for path in sorted(pkg.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_time_targets(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of ``known`` that importing ``name`` imports at module level (not in functions, not for type
    checkers); ``from package import submodule`` counts as importing the submodule."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                targets.add(base)
                targets.update(f"{base}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.If) and not _is_type_checking(node):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)

    visit(tree.body)
    found = set()
    for target in targets:
        parts = target.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c imports a and a.b first
            prefix = ".".join(parts[:i])
            if prefix in known and prefix != name:
                found.add(prefix)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Cycles of ``graph`` (one per strongly connected component of more than one module, or a self-loop)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return out


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def test_module_level_imports_form_no_cycle():
    modules = _modules()
    known = set(modules)
    graph = {}
    for name, path in modules.items():
        # a package importing its own submodules (re-exports) is the normal shape, not a circle; a submodule
        # importing its package is implied by the import system and not counted
        graph[name] = {
            t
            for t in _import_time_targets(name, path, known)
            if not (name.startswith(t + ".") and _is_package(t, modules))
        }
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_module_imports_alone_in_a_fresh_interpreter():
    names = sorted(_modules())
    script = (
        "import importlib, json, subprocess, sys\n"
        "failed = {}\n"
        "for name in json.loads(sys.argv[1]):\n"
        "    r = subprocess.run([sys.executable, '-c', f'import {name}'], capture_output=True, text=True)\n"
        "    if r.returncode:\n"
        "        failed[name] = r.stderr.strip().splitlines()[-1]\n"
        "print(json.dumps(failed))\n"
    )
    importable = [n for n in names if _installed(n)]
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(importable)], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert json.loads(result.stdout) == {}
    assert len(importable) > 100  # the core alone has more; a broken listing must not pass


def _installed(name: str) -> bool:
    top = name.split(".")[0]
    if top == "flowcept_core":
        return True
    import importlib.util

    return importlib.util.find_spec(top) is not None


def test_public_api_imports_without_typing_re_the_redactor_or_telemetry():
    code = (
        "import sys\nfrom flowcept import Flowcept, flowcept_task\n"
        "print(sorted(m for m in ('typing', 're', 'flowcept_core.redact', 'flowcept_core.telemetry',"
        " 'flowcept_core.settings', 'yaml', 'pluggy', 'psutil', 'orjson', 'msgpack') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    "code",
    [
        "from flowcept import Flowcept, flowcept_task\n"
        "@flowcept_task\ndef f(x):\n    return x\n"
        "with Flowcept(workflow_name='w', start_persistence=False, save_workflow=False):\n"
        "    f(1)\n"
    ],
)
def test_a_run_loads_the_redactor_it_needs(code, tmp_path):
    probe = code + "import sys\nprint('flowcept_core.redact' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip().splitlines()[-1] == "True"


def test_no_core_or_plugin_module_is_over_400_lines():
    long = {
        str(path.relative_to(ROOT)): n
        for path in _modules().values()
        if (n := len(path.read_text().splitlines())) > 400
    }
    assert long == {}


_DEFINED_ONCE = {
    "SUBMITTED",
    "WAITING",
    "RUNNING",
    "FINISHED",
    "ERROR",
    "UNKNOWN",
    "flowcept_control",
    "start_of_stream",
    "end_of_stream",
}


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


# modules that read another system's statuses, some of which are spelt like ours (MLflow's RunStatus)
_FOREIGN_VOCABULARY = ("flowcept_mlflow.runs", "flowcept_mlflow.tracking_db")


def test_status_and_stream_marker_strings_are_written_only_in_constants():
    """Statuses and stream markers are compared through flowcept_core.constants (or Status), never spelled out.
    Not checked: the contract suites' sample messages (the wire format as a third party writes it), the plugin
    template (third-party code) and the report package."""
    found = []
    for name, path in _modules().items():
        if name in ("flowcept_core.constants", *_FOREIGN_VOCABULARY) or name.startswith(
            ("flowcept_core.report", "flowcept_core.testing", "flowcept_example")
        ):
            continue
        tree = ast.parse(path.read_text())
        skip = _docstrings(tree)
        found += [
            f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and node.value in _DEFINED_ONCE and id(node) not in skip
        ]
    assert found == []
