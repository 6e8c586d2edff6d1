"""What a user sees when something the mlflow interceptor needs is missing, and what listing plugins costs: each case
runs in a fresh interpreter (imports are process-wide)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str, tmp_path, settings: str | None = None) -> str:
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    if settings is not None:
        (tmp_path / "settings.yaml").write_text(settings)
        env["FLOWCEPT_SETTINGS_PATH"] = str(tmp_path / "settings.yaml")
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


_START = """
    from flowcept import Flowcept
    try:
        Flowcept("mlflow").start()
    except Exception as e:
        print(type(e).__name__, e)
    else:
        print("started")
"""


def test_without_sqlite3_the_start_fails_naming_the_plugin_and_the_install_command(tmp_path):
    out = _run("import sys\nsys.modules['sqlite3'] = None\n" + textwrap.dedent(_START), tmp_path)
    assert out.startswith("PluginLoadError interceptor 'mlflow' cannot be loaded"), out
    assert "sqlite3" in out and "pip install" in out, out


def test_without_the_plugin_the_start_fails_with_the_install_command(tmp_path):
    # plugins.disabled stands for a plugin that is not installed: the registry does not load it
    out = _run(_START, tmp_path, settings="plugins:\n  disabled: [mlflow]\nlog:\n  log_stream_level: error\n")
    assert out.startswith("UnknownPluginError unknown interceptor 'mlflow'"), out
    assert "pip install" in out and "mlflow" in out.rsplit("pip install", 1)[1], out


def test_listing_plugins_and_starting_the_watcher_import_neither_mlflow_nor_sqlalchemy(tmp_path):
    out = _run("""
        import sys
        from flowcept import Flowcept
        from flowcept_core.registry import get_registry
        assert "mlflow" in get_registry().names("interceptor")
        with Flowcept("mlflow"):
            pass
        print(sorted(m for m in ("mlflow", "sqlalchemy", "alembic") if m in sys.modules))
    """, tmp_path, settings="log:\n  log_stream_level: error\nproject:\n  db_flush_mode: offline\n")
    assert out.strip() == "[]", out
