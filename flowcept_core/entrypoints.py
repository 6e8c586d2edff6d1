"""Entry points of one group, read straight from the installed distributions' metadata directories.

``importlib.metadata`` answers the same question, but importing it costs tens of milliseconds (email, zipfile, csv,
pathlib...), which every ``Flowcept.start()`` would pay. Here: one directory listing per ``sys.path`` entry and
the ``entry_points.txt`` of each ``*.dist-info`` / ``*.egg-info`` (the first distribution of a name on the path
wins, as with importlib.metadata). Anything unusual (a zip on the path, an unreadable file) falls back to
importlib.metadata, so the answer is the same.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

__all__ = ["EntryPoint", "entry_points"]


@dataclass(frozen=True)
class Distribution:
    name: str


@dataclass(frozen=True)
class EntryPoint:
    """name = value (``module:attr``) of a distribution; load() imports it."""

    name: str
    value: str
    group: str
    dist: Distribution | None

    def load(self) -> Any:
        import importlib

        module, _, attrs = self.value.partition(":")
        obj = importlib.import_module(module.strip())
        for attr in filter(None, attrs.strip().split(".")):
            obj = getattr(obj, attr)
        return obj


def entry_points(group: str) -> list[Any]:
    """The entry points of group across the installed distributions."""
    try:
        return _scan(group)
    except Exception:  # an unusual layout: let the standard library answer
        from importlib import metadata

        return list(metadata.entry_points(group=group))


def _scan(group: str) -> list[EntryPoint]:
    seen: set[str] = set()
    found: list[EntryPoint] = []
    for base in sys.path:
        base = base or "."
        if not os.path.isdir(base):
            if os.path.isfile(base):
                raise ValueError(f"{base} is a file on sys.path")  # a zip: the standard library reads those
            continue
        with os.scandir(base) as entries:
            infos = sorted(e.name for e in entries if e.name.endswith((".dist-info", ".egg-info")))
        for info in infos:
            key = _normalize(info.rsplit(".", 1)[0].split("-", 1)[0])
            if key in seen:
                continue
            seen.add(key)
            text = _read(os.path.join(base, info, "entry_points.txt"))
            if text is None or f"[{group}]" not in text:
                continue
            dist = Distribution(_dist_name(os.path.join(base, info)) or key)
            found.extend(EntryPoint(name, value, group, dist) for name, value in _section(text, group))
    return found


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None


def _section(text: str, group: str) -> list[tuple[str, str]]:
    out, inside = [], False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            inside = line == f"[{group}]"
            continue
        if inside and "=" in line:
            name, _, value = line.partition("=")
            out.append((name.strip(), value.strip()))
    return out


def _dist_name(info_dir: str) -> str | None:
    for meta in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(info_dir, meta), encoding="utf-8") as f:
                for line in f:
                    if line.startswith("Name:"):
                        return line[5:].strip()
                    if not line.strip():
                        break
        except OSError:
            continue
    return None


def _normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")
