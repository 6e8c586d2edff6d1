"""Building plugin distributions for tests without touching the user's environment.

``build_wheel`` runs setuptools' PEP 517 backend in a subprocess (no pip, no build isolation: about half a second a
distribution). ``fixture_plugins_path()`` builds the fixture plugins under tests/fixture_plugins once per test
process and unpacks them into a private directory, which the tests that need them put on sys.path: the venv the
tests run in never has them installed, so ``flowcept plugins`` there shows what the user installed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = ("flowcept-fixture-good", "flowcept-fixture-broken", "flowcept-fixture-dup")
_BUILD = "import sys; from setuptools import build_meta as b; print(b.build_wheel(sys.argv[1]))"
_target: Path | None = None


def build_wheel(src: Path, out: Path, python: str = sys.executable) -> Path:
    """Build the distribution in src into out; return the wheel's path. Raises RuntimeError with the build log."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(src / "build", ignore_errors=True)  # a stale build/ would be packed again
    try:
        done = subprocess.run([python, "-c", _BUILD, str(out.resolve())], cwd=src, capture_output=True, text=True,
                              timeout=300)
    finally:
        shutil.rmtree(src / "build", ignore_errors=True)
    if done.returncode != 0 and "bdist_wheel" in done.stderr:  # setuptools < 70.1 without the wheel package
        done = subprocess.run([python, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(out.resolve()),
                               str(src)], capture_output=True, text=True, timeout=300)
        wheels = sorted(out.glob("*.whl"), key=lambda p: p.stat().st_mtime)
        if done.returncode == 0 and wheels:
            return wheels[-1]
    if done.returncode != 0:
        raise RuntimeError(f"building {src} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return out / done.stdout.strip().splitlines()[-1]


def unpack_wheel(wheel: Path, target: Path) -> None:
    """Install a pure-Python wheel into target the way ``pip install --target`` lays it out."""
    with zipfile.ZipFile(wheel) as z:
        z.extractall(target)


def fixture_plugins_path() -> Path:
    """A directory holding the installed fixture plugins (built once per process); put it on sys.path to use them."""
    global _target
    if _target is None:
        work = Path(tempfile.mkdtemp(prefix="flowcept-fixture-plugins-"))
        target = work / "site"
        for name in FIXTURES:  # built from a copy: test processes running side by side share no build/ directory
            src = shutil.copytree(REPO / "tests" / "fixture_plugins" / name, work / "src" / name,
                                  ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"))
            unpack_wheel(build_wheel(Path(src), work / "wheels"), target)
        _target = target
    return _target
