"""Hooks of flowcept-ui: the ``flowcept ui`` command. Importing this module stays cheap (no server code)."""

from __future__ import annotations

from flowcept_core.plugin import CliCommandSpec, hookimpl

__all__ = ["flowcept_cli_commands"]


@hookimpl
def flowcept_cli_commands() -> list[CliCommandSpec]:
    """Called once when the registry collects CLI commands; returns the ``ui`` command."""
    return [
        CliCommandSpec(
            "ui",
            "flowcept_ui.cli:main",
            extra="ui",
            summary="browse stored provenance in a web browser (read-only, 127.0.0.1 by default)",
        )
    ]
