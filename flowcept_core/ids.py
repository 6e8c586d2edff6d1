"""Cheap ids unique across threads, processes and hosts: a random per-process prefix plus a counter.

The hot path takes ``next(COUNTER)`` (an int); ``format_id(n)`` turns it into the string id later. After a fork
the child gets a new prefix, and ints taken before the fork still format with the parent's prefix.
"""

from __future__ import annotations

import itertools
import os

__all__ = ["COUNTER", "format_id", "new_id", "new_uuid"]

COUNTER = itertools.count(1)
_prefixes: list[tuple[int, str]] = []  # (first counter value using this prefix, prefix), ascending
_prefix = ""
_first = 1  # first counter value of the current prefix


def _new_prefix() -> str:
    return os.urandom(6).hex()


def _take_prefix(first: int) -> None:
    global _prefix, _first
    _prefix = _new_prefix()
    _first = first
    _prefixes.append((first, _prefix))


_take_prefix(1)


def _after_fork_in_child() -> None:
    # The child's copy of COUNTER continues from the parent's value; ints from here on get a new prefix.
    _take_prefix(next(COUNTER))


os.register_at_fork(after_in_child=_after_fork_in_child)


def format_id(n: int) -> str:
    """The string id of counter value n, with the prefix of the process epoch that produced it."""
    if n >= _first:
        return f"{_prefix}-{n}"
    for first, prefix in reversed(_prefixes):
        if n >= first:
            return f"{prefix}-{n}"
    return f"{_prefixes[0][1]}-{n}"


def prefix_table() -> list[tuple[int, str]]:
    """(first counter value, prefix) pairs of this process: what a consumer needs to format ids it receives as ints."""
    return list(_prefixes)


def new_id() -> str:
    """A fresh string id (counter-based, no randomness per call)."""
    return format_id(next(COUNTER))


def new_uuid() -> str:
    """A random UUID4 string, for workflow and campaign ids (not on the per-task path).

    Built from os.urandom like uuid.uuid4, without importing uuid (which imports platform: ~7 ms at the first start).
    """
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
