"""The ``flowcept`` command: ``flowcept plugins``, ``flowcept settings``, ``flowcept version``."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flowcept", description="Workflow provenance capture")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("plugins", help="list MQ backends, interceptors, stores and consumers, with failures")
    sub.add_parser("settings", help="print the resolved settings (secrets masked) and where they came from")
    sub.add_parser("version", help="print the version")
    args = parser.parse_args(argv)
    if args.command == "version":
        from flowcept_core import __version__

        print(__version__)
    elif args.command == "plugins":
        from flowcept_core.registry import get_registry

        print(get_registry().report())
    elif args.command == "settings":
        import yaml

        from flowcept_core.settings import get_settings

        s = get_settings()
        print(f"# source: {s.source or 'built-in defaults'}")
        for w in s.warnings:
            print(f"# warning: {w}")
        print(yaml.safe_dump(s.redacted(), sort_keys=False), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
