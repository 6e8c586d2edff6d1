"""``flowcept settings [--check]``: the resolved settings, where each value came from, and what is wrong with them.

Both forms run the checks ``Flowcept.start()`` runs; problems print as one line each (``error: ...`` /
``warning: ...``), never as a traceback. Exit status: 0, or 1 when the settings cannot be loaded or have an error.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any

__all__ = ["add_settings_parser", "run_settings"]


def add_settings_parser(sub: Any) -> None:
    """Called by the ``flowcept`` command while it builds its parser: adds the ``settings`` subcommand."""
    p = sub.add_parser("settings", help="print the resolved settings (secrets masked) and where they came from")
    p.add_argument("--check", action="store_true",
                   help="check what Flowcept.start() checks (plugins, MQ type, telemetry, stores) and report "
                        "errors and warnings; exit status 1 on an error")


def run_settings(args: argparse.Namespace) -> int:
    """Called for ``flowcept settings``; prints the report to stdout (a load error to stderr); returns the exit
    status."""
    from flowcept_core.settings import SettingsError, SettingsWarning, load_settings, reset_settings

    try:
        with warnings.catch_warnings():  # printed below, once, as lines of this report
            warnings.simplefilter("ignore", SettingsWarning)
            settings = load_settings()
    except SettingsError as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 1
    reset_settings(settings)  # the registry reads plugins.* from these settings
    from flowcept_core.health import check_settings

    check = bool(getattr(args, "check", False))
    errors, warns = check_settings(settings, missing_path_is_error=check)
    print(f"# source: {source_line(settings)}")
    if not check:
        for e in errors:
            print(f"# error: {e}")
        for w in warns:
            print(f"# warning: {w}")
        import yaml

        print(yaml.safe_dump(settings.redacted(), sort_keys=False), end="")
        return 1 if errors else 0
    for w in warns:
        print(f"warning: {w}")
    for e in errors:
        print(f"error: {e}")
    if not errors:
        print(f"ok: settings are valid ({len(warns)} warning{'s' if len(warns) != 1 else ''})")
    return 1 if errors else 0


def source_line(settings: Any) -> str:
    """Where the values came from: the file (or built-in defaults) and each environment variable that set one."""
    text = settings.source or "built-in defaults"
    if settings.missing_path:
        text += f" (FLOWCEPT_SETTINGS_PATH={settings.missing_path!r} does not exist)"
    if settings.from_env:
        pairs = ", ".join(f"{dotted} from {name}" for dotted, name in sorted(settings.from_env.items()))
        text += f"; environment: {pairs}"
    return text


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__
