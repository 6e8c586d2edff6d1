"""The ``flowcept`` command: ``flowcept plugins``, ``flowcept settings``, ``flowcept version``."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flowcept", description="Workflow provenance capture")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("plugins", help="list MQ backends, interceptors, stores and consumers, with failures")
    from flowcept_core.settings_cli import add_settings_parser

    add_settings_parser(sub)
    sub.add_parser("version", help="print the version")
    args = parser.parse_args(argv)
    if args.command == "version":
        from flowcept_core import __version__

        print(__version__)
    elif args.command == "plugins":
        from flowcept_core.registry import get_registry

        print(get_registry().report())
    elif args.command == "settings":
        from flowcept_core.settings_cli import run_settings

        return run_settings(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
