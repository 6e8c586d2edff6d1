"""The ``flowcept`` command: one subcommand per job (``flowcept <command> --help`` shows its options and examples).

Subcommands live beside this module: settings (settings_cli), data (cli_data: query, workflows, workflow, report,
export, read-buffer), services (cli_services: init-settings, check-services, start-consumer, stream). Upstream
1.0.3's flags (``flowcept --query --filter ...``) are translated by cli_legacy. Usage errors (a missing file, a
malformed JSON filter, an unknown id) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main", "build_parser"]

_EXAMPLES = """examples:
  flowcept init-settings                       write a commented ~/.flowcept/settings.yaml
  flowcept settings --check                    resolved settings, checked
  flowcept check-services                      is each enabled service up?
  flowcept workflows                           stored workflows with task counts
  flowcept workflow WORKFLOW_ID                a workflow's summary
  flowcept query --filter '{"status": "ERROR"}' --limit 10
  flowcept report --input flowcept_buffer.jsonl --print
  flowcept export --workflow-id WORKFLOW_ID --format csv --output tasks.csv
  flowcept read-buffer flowcept_buffer.jsonl --type task --limit 20

plugin commands (each from its plugin distribution):
  flowcept ui [--host 127.0.0.1] [--port 5000]  browse stored provenance in a web browser (pip install "flowcept[ui]")

upstream's flags keep working: flowcept --version, --show-settings, --init-settings, --config-profile NAME,
--check-services, --start-consumption-services, --stream-messages, --workflow-count --workflow-id ID,
--query --filter JSON, --get-task --task-id ID, --generate-report --input-path FILE --output-path FILE
"""


def build_parser() -> argparse.ArgumentParser:
    """Called by main; returns the parser of every subcommand (each sets ``func`` or is dispatched by name)."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="flowcept",
        description="Workflow provenance capture: settings, services, queries, reports and exports.",
        epilog=_EXAMPLES,
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    text = "list MQ backends, interceptors, stores and consumers, with failures"
    sub.add_parser(
        "plugins",
        help=text,
        description=text,
        formatter_class=formatter,
        epilog="examples:\n  flowcept plugins\n"
        "  FLOWCEPT_STRICT_PLUGINS=1 flowcept plugins   # a plugin that fails to import raises",
    )
    from flowcept_core.settings_cli import add_settings_parser

    add_settings_parser(sub)
    settings = sub.choices["settings"]
    settings.formatter_class = formatter
    settings.epilog = (
        "examples:\n  flowcept settings                    # the resolved tree, secrets masked\n"
        "  flowcept settings --check            # errors and warnings; exit status 1 on an error\n"
        "  MQ_TYPE=redis flowcept settings      # a value set by the environment, shown as such"
    )
    sub.add_parser(
        "version",
        help="print the version",
        description="print the version",
        formatter_class=formatter,
        epilog="examples:\n  flowcept version\n  flowcept --version",
    )
    from flowcept_core.cli_data import add_data_parsers
    from flowcept_core.cli_services import add_service_parsers

    add_service_parsers(sub, formatter)
    add_data_parsers(sub, formatter)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``flowcept`` command; returns the exit status (0 ok, 1 a check failed, 2 usage error)."""
    from flowcept_core.cli_common import UsageError

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _main(argv)
    except UsageError as e:
        print(f"flowcept: error: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        print(f"flowcept: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a query on a store that is down, a filter with an unknown operator...
        from flowcept_core.filters import FilterError

        if isinstance(e, FilterError):
            print(f"flowcept: error: {e}", file=sys.stderr)
            return 2
        print(f"flowcept: error: {type(e).__name__}: {' '.join(str(e).split())}", file=sys.stderr)
        return 1


def _main(argv: list[str]) -> int:
    from flowcept_core.cli_legacy import HELP_FOR, LEGACY_FLAGS, translate

    asks_help = [a for a in argv if a in ("-h", "--help")]
    flag = next((HELP_FOR[a] for a in argv if a in HELP_FOR), None)
    if asks_help and flag is not None and argv[0].startswith("-"):
        argv = [flag, "--help"]  # upstream's ``flowcept --help --query``
    elif argv and argv[0].partition("=")[0] in LEGACY_FLAGS and argv[0] not in ("--version",):
        translated = translate(argv)
        if isinstance(translated, int):
            return translated
        argv = translated
    parser = build_parser()
    if not argv:
        parser.print_help()
        return 0
    if not argv[0].startswith("-") and argv[0] not in _subcommands(parser):
        status = _plugin_command(argv[0], argv[1:])
        if status is not None:
            return status
    args = parser.parse_args(argv)
    if args.version or args.command == "version":
        from flowcept_core import __version__

        print(__version__)
    elif args.command == "plugins":
        from flowcept_core.registry import get_registry

        print(get_registry().report())
    elif args.command == "settings":
        from flowcept_core.settings_cli import run_settings

        return run_settings(args)
    elif getattr(args, "func", None) is not None:
        return args.func(args)
    else:
        parser.print_help()
    return 0


# subcommands that plugin distributions provide: name -> install extra (named when the plugin is missing)
_PLUGIN_COMMANDS = {"ui": "ui"}


def _subcommands(parser: argparse.ArgumentParser) -> set[str]:
    return {name for action in parser._subparsers._group_actions for name in action.choices} if parser._subparsers \
        else set()


def _plugin_command(name: str, rest: list[str]) -> int | None:
    """Run ``flowcept <name>`` from the plugin providing it (hook flowcept_cli_commands); None when no plugin does
    and name is not a known plugin command (argparse then reports it); UsageError naming the plugin to install."""
    from flowcept_core.cli_common import UsageError
    from flowcept_core.registry import PluginLoadError, UnknownPluginError, get_registry

    try:
        spec = get_registry().resolve("cli_command", name)
    except (UnknownPluginError, PluginLoadError) as e:
        extra = _PLUGIN_COMMANDS.get(name)
        if extra is None:
            return None
        from flowcept_core.plugin_factory import install_hint

        hint = install_hint(extra, name)
        where = "" if hint.startswith("pip install \"") else f" (from this source checkout: {hint})"
        reason = f" ({e})" if isinstance(e, PluginLoadError) else ""
        raise UsageError(f"`flowcept {name}` is provided by the flowcept-{extra} plugin, which is not installed"
                         f"{reason}; install it with: pip install \"flowcept[{extra}]\"{where}") from None
    return int(spec.factory(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
